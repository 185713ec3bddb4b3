// Receipt: a print button (no inline script: the pages' CSP allows only this file).
"use strict";
const printButton = document.getElementById("print");
if (printButton) printButton.addEventListener("click", () => window.print());
