// The tier's colour (an admin setting) on its badge: set from its data attribute, as no inline style may be
// (the Content-Security-Policy allows styles from our own files only).
for (const element of document.querySelectorAll("[data-colour]")) {
  if (/^#[0-9a-fA-F]{3,8}$/.test(element.dataset.colour)) element.style.borderColor = element.dataset.colour;
}
