// tests/clients/cases.mjs: URLs built by imgproxy's official Node client, with what imgfcgi must answer.
//
// Prints a JSON array of {name, path, fmt, w, h} for run.sh's signed instance
// (IMGPROXY_KEY=736563726574 "secret", IMGPROXY_SALT=68656C6C6F "hello").
// Sources live under IMGPROXY_LOCAL_FILESYSTEM_ROOT: photo.jpg is 800x500,
// boxed.png is 200x100 white with a 100x50 red box. Option objects follow
// @imgproxy/imgproxy-js-core's types (PLATFORM-NOTES §8.5: the resizing
// type field is `resizing_type`; unknown keys are dropped silently).
import { generateImageUrl } from '@imgproxy/imgproxy-node';

const key = '736563726574';
const salt = '68656C6C6F';
const endpoint = 'http://imgfcgi.test';

const cases = [
  ['fill-gravity', 'local:///photo.jpg', { resizing_type: 'fill', width: 300, height: 200, gravity: { type: 'no' } }, 'jpeg', 300, 200],
  ['resize-enlarge-extend', 'local:///photo.jpg', { resize: { resizing_type: 'fit', width: 100, height: 100, enlarge: 1, extend: { extend: 1 } } }, 'jpeg', 100, 100],
  ['size', 'local:///photo.jpg', { size: { width: 100, height: 50 } }, 'jpeg', 80, 50],
  ['padding', 'local:///photo.jpg', { width: 100, padding: { top: 10, right: 5 } }, 'jpeg', 110, 83],
  ['filters-webp', 'local:///photo.jpg', { width: 200, blur: 2, sharpen: 1, pixelate: 4, quality: 70, format: 'webp' }, 'webp', 200, 125],
  ['background-png', 'local:///photo.jpg', { width: 80, background: { r: 255, g: 0, b: 0 }, format: 'png' }, 'png', 80, 50],
  ['rotate-flip', 'local:///photo.jpg', { width: 100, rotate: 90, flip: { horizontal: 1, vertical: 0 } }, 'jpeg', 100, 160],
  ['crop-gravity', 'local:///photo.jpg', { crop: { width: 100, height: 100, gravity: { type: 'sowe' } } }, 'jpeg', 100, 100],
  ['extend-aspect-ratio', 'local:///photo.jpg', { resizing_type: 'fit', width: 100, height: 100, extend_aspect_ratio: { extend: 1 } }, 'jpeg', 100, 100],
  ['trim', 'local:///boxed.png', { trim: { threshold: 10 } }, 'png', 100, 50],
  ['dpr', 'local:///photo.jpg', { width: 100, dpr: 2 }, 'jpeg', 200, 125],
  ['min-height-crops-to-width', 'local:///photo.jpg', { width: 100, min_height: 100, zoom: 1 }, 'jpeg', 100, 100],
  ['metadata-flags', 'local:///photo.jpg', { width: 100, strip_metadata: 1, keep_copyright: 0, strip_color_profile: 1, auto_rotate: 0, enforce_thumbnail: 1 }, 'jpeg', 100, 63],
  ['max-bytes', 'local:///photo.jpg', { width: 400, max_bytes: 10000 }, 'jpeg', 400, 250],
  ['plain-url-smart', { value: 'local:///photo.jpg', displayAs: 'plain' }, { resizing_type: 'fill', width: 50, height: 50, gravity: { type: 'sm' } }, 'jpeg', 50, 50],
  ['gif-out', 'local:///photo.jpg', { width: 40, format: 'gif' }, 'gif', 40, 25],
];

const out = cases.map(([name, url, options, fmt, w, h]) => {
  const full = generateImageUrl({ endpoint, url, options, key, salt });
  return { name, path: full.slice(endpoint.length), fmt, w, h };
});
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
