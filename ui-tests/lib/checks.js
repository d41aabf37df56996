// Accessibility checks run inside the page: every form control has an accessible name, and text
// meets WCAG AA contrast against the background it sits on.

/** Controls without an accessible name (label, aria-label, aria-labelledby, or button text). */
export function unlabelledControls(page) {
  return page.evaluate(() => {
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const problems = [];
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href]')) {
      if (!visible(el) && !(el.type === 'file' && el.labels?.length)) continue;
      const named = (el.labels && el.labels.length > 0)
        || el.getAttribute('aria-label')
        || (el.getAttribute('aria-labelledby') ?? '').split(' ').some((id) => document.getElementById(id)?.textContent.trim())
        || ((el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim());
      if (!named) problems.push(el.outerHTML.slice(0, 120));
    }
    return problems;
  });
}

/** Visible text whose contrast ratio is below 4.5:1 (3:1 for large text). */
export function contrastProblems(page) {
  return page.evaluate(() => {
    const parse = (colour) => {
      const match = /rgba?\(([^)]+)\)/.exec(colour);
      if (!match) return null;
      const [r, g, b, a = 1] = match[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const channel = (v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    const luminance = ({ r, g, b }) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const colour = parse(getComputedStyle(e).backgroundColor);
        if (colour && colour.a > 0.5) return colour;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const problems = [];
    for (const el of document.querySelectorAll('body *')) {
      if (![...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim())) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
      if (el.closest('.visually-hidden, [hidden], button:disabled, option')) continue;
      const fg = parse(style.color);
      if (!fg) continue;
      const l1 = luminance(fg);
      const l2 = luminance(background(el));
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
      if (ratio < (large ? 3 : 4.5)) problems.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 40)}": ${ratio.toFixed(2)}`);
    }
    return problems;
  });
}

/** Whether the page is wider than the window (sideways scrolling on a narrow screen). */
export function overflowsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}
