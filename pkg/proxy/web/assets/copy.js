// Copy buttons of the kube-oidc sign-in page: the only script. Each
// button[data-copy] copies the text of the element with that id. Without
// JavaScript the buttons stay hidden and the commands can be selected.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.setAttribute("aria-label", "Copy: " + source.textContent);
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Select the text to copy";
      });
    });
  });
});
