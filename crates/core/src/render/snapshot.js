// The rendered page, written back into markup the extractor already reads: what the browser
// chose or computed is put where a server-rendered page would have had it.
(() => {
  const MAX_ELEMENTS = 200000;
  // An <img> whose chosen source is missing from its markup (a lazy placeholder, or a src set
  // by script): the chosen one becomes its src.
  for (const img of Array.from(document.images).slice(0, MAX_ELEMENTS)) {
    const chosen = img.currentSrc;
    const src = img.getAttribute('src') || '';
    if (chosen && !chosen.startsWith('data:') && (src === '' || src.startsWith('data:') || !img.hasAttribute('srcset'))) {
      if (src !== chosen) img.setAttribute('src', chosen);
    }
  }
  // Background images set by stylesheets or scripts: written inline, where the extractor
  // reads backgrounds.
  let seen = 0;
  for (const el of document.querySelectorAll('body *')) {
    if (++seen > MAX_ELEMENTS) break;
    const bg = getComputedStyle(el).backgroundImage;
    if (!bg || bg === 'none' || !bg.includes('url(')) continue;
    const inline = el.getAttribute('style') || '';
    if (inline.includes('url(')) continue;
    el.setAttribute('style', (inline ? inline.replace(/;?\s*$/, '; ') : '') + 'background-image: ' + bg);
  }
  // Open shadow roots: their markup appended inside the host, so their images are seen.
  let hosts = 0;
  for (const el of document.querySelectorAll('*')) {
    if (!el.shadowRoot || ++hosts > 10000) continue;
    const holder = document.createElement('div');
    holder.setAttribute('data-image-chat-shadow-root', '');
    holder.innerHTML = el.shadowRoot.innerHTML;
    el.appendChild(holder);
  }
  return { html: '<!DOCTYPE html>' + document.documentElement.outerHTML, url: location.href };
})()
