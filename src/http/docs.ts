import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express from 'express';

// Swagger UI from the npm package, served by the gateway itself: the page loads nothing from elsewhere.
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const SWAGGER_UI_FILES = new Set(['/swagger-ui.css', '/swagger-ui-bundle.js', '/favicon-32x32.png', '/favicon-16x16.png', '/oauth2-redirect.html', '/oauth2-redirect.js']);

// Scripts and styles only from the gateway; `data:` images are the icons inside swagger-ui.css.
// The page talks to the gateway only (the description, "Try it out", the token endpoint).
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Relative URLs, so the page works behind a proxy that adds a path prefix.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Handover gateway API</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the description to validator.swagger.io.
const INIT = `window.ui = SwaggerUIBundle({
  url: new URL('openapi.json', document.baseURI).href,
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  oauth2RedirectUrl: new URL('docs/oauth2-redirect.html', document.baseURI).href,
});
`;

/** `GET /openapi.json` (the assembled description) and `GET /docs` (Swagger UI); no token. */
export function docsRouter(description: () => object): express.Router {
  const router = express.Router();
  // Assembled on first use, not at start: start-up stays as fast as before (several instances, restarts).
  let json: string | undefined;
  router.get('/openapi.json', (_req, res) => {
    json ??= JSON.stringify(description());
    res.status(200).type('application/json').set('Cache-Control', 'no-cache').send(json);
  });
  const page = (res: express.Response, type: string, body: string): void => {
    res.status(200).type(type).set({ 'Content-Security-Policy': DOCS_CSP, 'Cache-Control': 'no-cache' }).send(body);
  };
  router.get('/docs', (req, res) => {
    // The page's URLs are relative to /docs: /docs/ would load them from /docs/docs/.
    if (req.path.endsWith('/')) res.status(301).location('../docs').end();
    else page(res, 'text/html', PAGE);
  });
  router.get('/docs/init.js', (_req, res) => page(res, 'text/javascript', INIT));
  router.use(
    '/docs',
    (req, _res, next) => next(SWAGGER_UI_FILES.has(req.path) ? undefined : 'router'),
    express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1h', setHeaders: (res) => res.setHeader('Content-Security-Policy', DOCS_CSP) }),
  );
  return router;
}
