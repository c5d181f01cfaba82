/*
 * Upload Service: the little the pages need beyond htmx. Hand-written, no build step, and no
 * inline scripts or styles anywhere (the Content-Security-Policy forbids them).
 *
 *  - htmx error responses (4xx/5xx) are swapped into the nearest [data-errors] slot of the
 *    element's [data-error-scope], or into the page's #alerts region: never swallowed.
 *  - The upload panel ([data-uploader]) sends each file with its own XMLHttpRequest to
 *    PUT /api/fs/<folder>/<name> (X-CSRFToken header), with a progress bar per file, drag and
 *    drop, and inline errors with retry / replace / keep both; then the list is refreshed.
 *    Files of RESUMABLE_THRESHOLD and more go up over tus (/api/tus/, the vendored
 *    tus-js-client) in chunks: they can be paused, resume by themselves after a network drop,
 *    and resume where they stopped when the same file is chosen again after a reload.
 *  - The attach form ([data-attach]) uploads chosen files at once as temporary uploads and
 *    shows them as chips carrying the hidden token.
 *  - Copy buttons ([data-copy]), local times (<time datetime>), popovers that close, and
 *    thumbnails (img.thumb) that fail to load give way to the type icon.
 *
 * Without JavaScript every form still posts normally.
 */
(function () {
  "use strict";

  const MAX_PARALLEL_UPLOADS = 3;
  const MiB = 1024 * 1024;
  const RESUMABLE_THRESHOLD = 8 * MiB;
  const TUS_CHUNK_SIZE = 8 * MiB;
  // Waits before each retry after a drop: about a minute and a half in all, then Retry.
  const TUS_RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 30000];

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function humanSize(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    for (const unit of units) {
      if (value < 1024 || unit === "TiB") {
        return unit === "B" ? `${Math.floor(value)} B` : `${value.toFixed(1)} ${unit}`;
      }
      value /= 1024;
    }
    return `${bytes} B`;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function iconUse(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const use = document.createElementNS(ns, "use");
    const sprite = spriteUrl();
    use.setAttribute("href", `${sprite}#${name}`);
    svg.appendChild(use);
    return svg;
  }

  function spriteUrl() {
    const used = document.querySelector("svg.icon use");
    return used ? used.getAttribute("href").split("#")[0] : "/static/icons.svg";
  }

  function button(label, className, onClick) {
    const node = element("button", `button ${className || "secondary"} small`, label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  /* The message inside an error fragment (<div class="error">) or a JSON API error. */
  function errorFrom(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    if (type.includes("json")) {
      try {
        const body = JSON.parse(xhr.responseText);
        return { code: body.code || `http_${xhr.status}`, message: friendlyMessage(body) };
      } catch (_) {
        /* fall through */
      }
    }
    if (type.includes("html") && xhr.responseText) {
      const template = document.createElement("template");
      template.innerHTML = xhr.responseText;
      const fragment = template.content.querySelector(".error");
      if (fragment) {
        return { code: fragment.dataset.code || `http_${xhr.status}`, message: fragment.textContent.trim() };
      }
    }
    if (xhr.status === 413) {
      return { code: "too_large", message: "The file is larger than the server accepts." };
    }
    return { code: `http_${xhr.status}`, message: `The server answered with status ${xhr.status}.` };
  }

  /* The API's message, with byte counts from its details put in human units. */
  function friendlyMessage(body) {
    const detail = Array.isArray(body.details) && body.details.length ? body.details[0] : {};
    if (body.code === "too_large" && typeof detail.max_size === "number") {
      return `Too large: the limit is ${humanSize(detail.max_size)} per file.`;
    }
    if (body.code === "quota_exceeded" && typeof detail.available === "number") {
      return `This would exceed your storage quota (${humanSize(detail.available)} left).`;
    }
    return body.error || "The upload failed.";
  }

  /* What to show for an error of tus-js-client. */
  function tusError(error) {
    const response = error.originalResponse;
    if (!response) {
      return { code: "network", message: "The connection was lost and did not come back. Retry goes on from where it stopped." };
    }
    return errorFrom(asXhr(response));
  }

  /* tus-js-client's response, read as errorFrom() reads an XMLHttpRequest. */
  function asXhr(response) {
    return {
      status: response.getStatus(),
      responseText: response.getBody() || "",
      getResponseHeader: (name) => response.getHeader(name),
    };
  }

  /* Whether the same chunk may go through later: the network, the server failing, a damaged
     chunk (460), a cut the server noticed (upload_interrupted), the lease of a chunk the
     server still reads (upload_locked) or an offset to resync. Never a refusal such as a
     name conflict, a quota or a size limit. */
  function tusShouldRetry(error) {
    const response = error.originalResponse;
    if (!response) return true;
    const status = response.getStatus();
    if (status >= 500 || status === 460 || status === 423) return true;
    return ["upload_locked", "offset_mismatch", "upload_interrupted"].includes(errorFrom(asXhr(response)).code);
  }

  function sessionEnded(error) {
    return error.code === "unauthenticated" || error.code === "http_401";
  }

  /* ---------------------------------------------------------------- htmx: inline errors */

  function errorSlotFor(elt) {
    const scope = elt && elt.closest ? elt.closest("[data-error-scope]") : null;
    const slot = scope ? scope.querySelector("[data-errors]") : null;
    return slot || document.getElementById("alerts");
  }

  function showAlert(message) {
    const alerts = document.getElementById("alerts");
    if (!alerts) return;
    const box = element("div", "error", message);
    box.setAttribute("role", "alert");
    alerts.replaceChildren(box);
    decorateAlerts();
  }

  function decorateAlerts() {
    const alerts = document.getElementById("alerts");
    if (!alerts) return;
    for (const box of alerts.querySelectorAll(".error:not([data-dismissable])")) {
      box.dataset.dismissable = "true";
      const close = element("button", "alert-close");
      close.type = "button";
      close.setAttribute("aria-label", "Dismiss");
      close.appendChild(iconUse("x"));
      close.addEventListener("click", () => box.remove());
      box.appendChild(close);
    }
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const slot = errorSlotFor(event.detail.elt);
    if (slot && slot.id !== "alerts") slot.replaceChildren();
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    if (!detail.isError) return;
    // The error fragment goes next to what failed, not over the element that was updating.
    detail.shouldSwap = true;
    detail.target = errorSlotFor(detail.requestConfig ? detail.requestConfig.elt : detail.elt);
    detail.swapOverride = "innerHTML";
    detail.selectOverride = "unset";
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "alerts") decorateAlerts();
  });

  document.addEventListener("htmx:sendError", () => {
    showAlert("Could not reach the server. Check your connection and try again.");
  });

  document.addEventListener("htmx:timeout", () => {
    showAlert("The server took too long to answer. Try again.");
  });

  /* ---------------------------------------------------------------- copy buttons */

  function legacyCopy(source) {
    const selection = window.getSelection();
    if (source.select) {
      source.select();
    } else {
      const range = document.createRange();
      range.selectNodeContents(source);
      selection.removeAllRanges();
      selection.addRange(range);
    }
    try {
      return document.execCommand("copy");
    } catch (_) {
      return false;
    }
  }

  document.addEventListener("click", async (event) => {
    const trigger = event.target.closest("[data-copy]");
    if (!trigger) return;
    const source = document.querySelector(trigger.dataset.copy);
    if (!source) return;
    const text = source.tagName === "INPUT" || source.tagName === "TEXTAREA" ? source.value : source.textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      copied = legacyCopy(source); // plain http on a LAN host has no clipboard API
    }
    const label = trigger.querySelector("[data-copy-label]") || trigger;
    const before = label.dataset.original || label.textContent;
    label.dataset.original = before;
    label.textContent = copied ? "Copied" : "Press Ctrl+C";
    trigger.classList.toggle("is-copied", copied);
    window.setTimeout(() => {
      label.textContent = before;
      trigger.classList.remove("is-copied");
    }, 2000);
  });

  /* ---------------------------------------------------------------- local times */

  const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
  // The locale's own short time ("14:05", "2:05 PM"), never a padded 12-hour "02:05 PM"
  const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

  function localizeTimes(root) {
    const today = new Date().toDateString();
    for (const node of root.querySelectorAll("time[datetime]")) {
      const moment = new Date(node.getAttribute("datetime"));
      if (Number.isNaN(moment.getTime())) continue;
      const day = moment.toDateString() === today ? "Today" : dayFormat.format(moment);
      node.textContent = `${day}, ${clockFormat.format(moment)}`;
      node.title = fullFormat.format(moment);
    }
  }

  /* ---------------------------------------------------------------- thumbnails */

  // A thumbnail the server has none of (404) leaves the type icon it was covering.
  document.addEventListener(
    "error",
    (event) => {
      const image = event.target;
      if (!(image instanceof HTMLImageElement) || !image.classList.contains("thumb")) return;
      const holder = image.closest(".has-thumb");
      if (holder) holder.classList.remove("has-thumb");
      image.remove();
    },
    true,
  );

  /* ---------------------------------------------------------------- popovers */

  document.addEventListener("click", (event) => {
    for (const open of document.querySelectorAll("details.popover[open], details.confirm[open]")) {
      if (!open.contains(event.target)) open.removeAttribute("open");
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const open of document.querySelectorAll("details.popover[open], details.confirm[open]")) {
      open.removeAttribute("open");
      const summary = open.querySelector("summary");
      if (summary) summary.focus();
    }
  });

  /* ---------------------------------------------------------------- list refresh */

  // After uploads the list is fetched again, once for a burst of them. The element is looked
  // up when the request is made: an earlier refresh may have swapped it in the meantime.
  let refreshTimer = null;

  function refreshFileList() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(() => {
      const list = document.getElementById("file-list");
      if (!list || !window.htmx) return;
      window.htmx.ajax("GET", list.dataset.refreshUrl, { source: list, target: list, swap: "outerHTML" });
    }, 150);
  }

  /* ---------------------------------------------------------------- upload panel */

  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  function hasFiles(event) {
    return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes("Files");
  }

  class Uploader {
    constructor(panel) {
      this.panel = panel;
      this.folder = panel.dataset.folder || "";
      this.putUrl = panel.dataset.putUrl; // PUT /api/fs/
      this.tusUrl = panel.dataset.tusUrl; // POST /api/tus/
      this.filesApiUrl = panel.dataset.filesApiUrl; // GET /api/files/<id>
      this.fileUrl = panel.dataset.fileUrl; // the file's page: /files/
      this.form = panel.querySelector("[data-dropzone]");
      this.input = panel.querySelector("[data-upload-input]");
      this.conflict = panel.querySelector("[data-on-conflict]");
      this.wrap = panel.querySelector("[data-upload-queue-wrap]");
      this.queue = panel.querySelector("[data-upload-queue]");
      this.summary = panel.querySelector("[data-upload-summary]");
      this.announcer = panel.querySelector("[data-upload-announcer]");
      this.items = [];
      this.waiting = [];
      this.running = 0;

      this.input.addEventListener("change", () => {
        this.addFiles(Array.from(this.input.files));
        this.input.value = "";
      });
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.addFiles(Array.from(this.input.files));
        this.input.value = "";
      });
      panel.querySelector("[data-clear-finished]").addEventListener("click", () => this.clearFinished());
      this.listenForDrops(panel.closest("[data-drop-page]") || this.form);
      window.addEventListener("beforeunload", (event) => {
        if (this.running || this.waiting.length) {
          event.preventDefault();
          event.returnValue = "";
        }
      });
    }

    listenForDrops(area) {
      let depth = 0;
      const highlight = (on) => this.form.classList.toggle("is-dragover", on);
      area.addEventListener("dragenter", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        depth += 1;
        highlight(true);
      });
      area.addEventListener("dragover", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
      });
      area.addEventListener("dragleave", (event) => {
        if (!hasFiles(event)) return;
        depth = Math.max(0, depth - 1);
        if (!depth) highlight(false);
      });
      area.addEventListener("drop", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        depth = 0;
        highlight(false);
        this.addDropped(event.dataTransfer);
      });
    }

    addDropped(transfer) {
      const files = [];
      const entries = Array.from(transfer.items || []);
      Array.from(transfer.files).forEach((file, index) => {
        const entry = entries[index] && entries[index].webkitGetAsEntry ? entries[index].webkitGetAsEntry() : null;
        if (entry && entry.isDirectory) {
          const item = this.createItem(file);
          this.fail(item, { code: "folder", message: "Folders cannot be dropped here: open the folder and drop the files inside." });
        } else {
          files.push(file);
        }
      });
      this.addFiles(files);
    }

    addFiles(files) {
      for (const file of files) {
        const item = this.createItem(file);
        this.start(item, this.conflict.value);
      }
      this.update();
    }

    createItem(file) {
      const li = element("li", "upload-item");
      const icon = element("span", "upload-icon");
      icon.appendChild(iconUse("other"));
      const main = element("div", "upload-main");
      const line = element("div", "upload-line");
      const name = element("span", "upload-name", file.name);
      const status = element("span", "upload-status", "Waiting…");
      line.append(name, status);
      const progress = element("progress", "upload-progress");
      progress.max = 100;
      progress.value = 0;
      progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
      const message = element("div", "upload-message");
      main.append(line, progress, message);
      const actions = element("div", "upload-actions");
      li.append(icon, main, actions);
      this.queue.prepend(li);
      this.wrap.hidden = false;
      const item = { file, li, icon, status, progress, message, actions, state: "waiting" };
      this.items.push(item);
      return item;
    }

    setState(item, state) {
      item.state = state;
      item.li.dataset.state = state;
      this.update();
    }

    start(item, onConflict) {
      item.onConflict = onConflict;
      item.message.replaceChildren();
      item.actions.replaceChildren();
      item.progress.value = 0;
      item.progress.hidden = false;
      // The server checks too; checking here first spares sending a file it would refuse.
      const maxSize = Number(this.panel.dataset.maxFileSize) || Infinity;
      if (item.file.size > maxSize) {
        this.fail(item, {
          code: "too_large",
          message: `Too large: ${humanSize(item.file.size)}, the limit is ${this.panel.dataset.maxFileSizeText} per file.`,
        });
        return;
      }
      item.status.textContent = "Waiting…";
      this.setState(item, "waiting");
      item.actions.append(button("Cancel", "quiet", () => this.cancel(item)));
      this.waiting.push(item);
      this.pump();
    }

    pump() {
      while (this.running < MAX_PARALLEL_UPLOADS && this.waiting.length) {
        this.send(this.waiting.shift());
      }
    }

    send(item) {
      this.running += 1;
      this.setState(item, "uploading");
      if (this.isResumable(item.file)) {
        this.sendResumable(item);
      } else {
        this.sendPlain(item);
      }
    }

    isResumable(file) {
      return Boolean(this.tusUrl) && file.size >= RESUMABLE_THRESHOLD && Boolean(window.tus) && window.tus.isSupported;
    }

    settle(item, handler) {
      this.running -= 1;
      item.xhr = null;
      handler();
      this.pump();
    }

    sendPlain(item) {
      const path = this.folder ? `${this.folder}/${item.file.name}` : item.file.name;
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("PUT", `${this.putUrl}${encodePath(path)}?on_conflict=${encodeURIComponent(item.onConflict)}`);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) this.progress(item, event.loaded, event.total);
      });
      const finished = (handler) => () => this.settle(item, handler);
      xhr.addEventListener("load", finished(() => {
        if (xhr.status >= 200 && xhr.status < 300) {
          this.succeed(item, JSON.parse(xhr.responseText), xhr.status === 200);
        } else {
          this.fail(item, errorFrom(xhr));
        }
      }));
      xhr.addEventListener("error", finished(() => {
        this.fail(item, { code: "network", message: "The connection was interrupted before the upload finished." });
      }));
      xhr.addEventListener("abort", finished(() => {
        this.fail(item, { code: "cancelled", message: "Cancelled." });
      }));
      this.progress(item, 0, item.file.size);
      xhr.send(item.file);
    }

    sendResumable(item) {
      const file = item.file;
      const metadata = { filename: file.name, folder: this.folder, on_conflict: item.onConflict };
      if (file.type) metadata.filetype = file.type;
      // The fingerprint names the target too: the same file chosen for another folder or
      // another conflict choice is another upload.
      const fingerprint = ["upload-service", this.tusUrl, this.folder, item.onConflict, file.name, file.type, file.size, file.lastModified].join("\n");
      const upload = new window.tus.Upload(file, {
        endpoint: this.tusUrl,
        chunkSize: TUS_CHUNK_SIZE,
        retryDelays: TUS_RETRY_DELAYS,
        metadata,
        headers: { "X-CSRFToken": csrfToken() },
        fingerprint: () => Promise.resolve(fingerprint),
        removeFingerprintOnSuccess: true,
        onShouldRetry: tusShouldRetry,
        onProgress: (sent, total) => this.progress(item, sent, total),
        onSuccess: ({ lastResponse }) => this.settle(item, () => this.finishResumable(item, lastResponse)),
        onError: (error) => this.settle(item, () => {
          item.tus = null;
          this.fail(item, tusError(error));
        }),
      });
      item.tus = upload;
      this.showResumableActions(item);
      this.progress(item, 0, file.size);
      upload.findPreviousUploads().then((previous) => {
        if (item.tus !== upload || item.state !== "uploading") return; // cancelled meanwhile
        if (previous.length) {
          upload.resumeFromPreviousUpload(previous[0]);
          item.message.textContent = "Went on with an earlier, unfinished upload of this file.";
        }
        upload.start();
      });
    }

    showResumableActions(item) {
      item.actions.replaceChildren(
        button("Pause", "secondary", () => this.pause(item)),
        button("Cancel", "quiet", () => this.cancel(item)),
      );
    }

    pause(item) {
      if (!item.tus || item.state !== "uploading") return;
      item.tus.abort(); // keeps the upload on the server (no termination)
      this.settle(item, () => {
        this.setState(item, "paused");
        item.status.textContent = `Paused · ${item.progress.value}%`;
        item.actions.replaceChildren(
          button("Resume", "secondary", () => this.resume(item)),
          button("Cancel", "quiet", () => this.cancel(item)),
        );
      });
    }

    /* A new tus Upload finds the paused one by its fingerprint and asks the server for its
       offset: what was sent is not sent again. */
    resume(item) {
      this.setState(item, "waiting");
      item.status.textContent = "Waiting…";
      this.waiting.push(item);
      this.pump();
    }

    finishResumable(item, response) {
      const id = response.getHeader("Upload-File-Id");
      item.tus = null;
      const xhr = new XMLHttpRequest();
      xhr.open("GET", `${this.filesApiUrl}${encodeURIComponent(id)}`);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.addEventListener("load", () => {
        if (xhr.status === 200) {
          this.succeed(item, JSON.parse(xhr.responseText), false);
        } else {
          this.fail(item, errorFrom(xhr));
        }
      });
      xhr.addEventListener("error", () => {
        this.fail(item, { code: "network", message: "Uploaded, but the server could not be reached afterwards. Reload the page." });
      });
      xhr.send();
    }

    progress(item, loaded, total) {
      const percent = total ? Math.floor((100 * loaded) / total) : 100;
      item.progress.value = percent;
      item.status.textContent = `${percent}% · ${humanSize(loaded)} of ${humanSize(total)}`;
    }

    cancel(item) {
      if (item.xhr) {
        item.xhr.abort();
        return;
      }
      if (item.tus) {
        const upload = item.tus;
        item.tus = null;
        upload.abort(true).catch(() => {}); // termination: the server drops what it has
        if (item.state === "uploading") {
          this.settle(item, () => this.fail(item, { code: "cancelled", message: "Cancelled." }));
          return;
        }
      }
      this.waiting = this.waiting.filter((other) => other !== item);
      this.fail(item, { code: "cancelled", message: "Cancelled." });
    }

    succeed(item, file, replaced) {
      this.setState(item, "done");
      item.progress.value = 100;
      item.progress.hidden = true;
      item.status.textContent = `${replaced ? "Replaced" : "Uploaded"} · ${humanSize(file.size)}`;
      item.icon.replaceChildren(iconUse("check"));
      item.actions.replaceChildren();
      const open = element("a", "button quiet small", "Open");
      open.href = `${this.fileUrl}${encodeURIComponent(file.id)}`;
      item.actions.append(open);
      if (file.name !== item.file.name) {
        item.message.textContent = `Saved as ${file.name}`;
      }
      this.announce(`${item.file.name} uploaded.`);
      refreshFileList();
    }

    fail(item, error) {
      this.setState(item, "error");
      item.progress.hidden = true;
      item.icon.replaceChildren(iconUse("alert-circle"));
      item.status.textContent = error.code === "cancelled" ? "Cancelled" : "Not uploaded";
      item.message.textContent = sessionEnded(error)
        ? "You are signed out. Reload the page and sign in again."
        : error.message;
      item.message.setAttribute("role", "alert");
      item.li.dataset.code = error.code;
      item.actions.replaceChildren();
      if (error.code === "path_exists") {
        item.actions.append(
          button("Replace", "secondary", () => this.start(item, "replace")),
          button("Keep both", "secondary", () => this.start(item, "rename")),
        );
      } else if (sessionEnded(error)) {
        item.actions.append(button("Reload", "secondary", () => window.location.reload()));
      } else if (error.code !== "too_large" && error.code !== "folder") {
        item.actions.append(button("Retry", "secondary", () => this.start(item, item.onConflict || "error")));
      }
      item.actions.append(button("Dismiss", "quiet", () => this.remove(item)));
      this.announce(`${item.file.name}: ${item.message.textContent}`);
    }

    remove(item) {
      item.li.remove();
      this.items = this.items.filter((other) => other !== item);
      this.update();
    }

    clearFinished() {
      for (const item of this.items.filter((other) => other.state === "done")) this.remove(item);
    }

    announce(text) {
      this.announcer.textContent = text;
    }

    update() {
      const count = (state) => this.items.filter((item) => item.state === state).length;
      const busy = count("uploading") + count("waiting");
      const failed = count("error");
      const done = count("done");
      const paused = count("paused");
      if (!this.items.length) {
        this.wrap.hidden = true;
        return;
      }
      if (busy) {
        this.summary.textContent = `Uploading ${busy} file${busy === 1 ? "" : "s"}…`;
      } else if (paused) {
        this.summary.textContent = `${paused} upload${paused === 1 ? "" : "s"} paused`;
      } else if (failed) {
        this.summary.textContent = `${failed} upload${failed === 1 ? "" : "s"} need${failed === 1 ? "s" : ""} attention`;
      } else {
        this.summary.textContent = `${done} file${done === 1 ? "" : "s"} uploaded`;
      }
      this.panel.dataset.busy = busy ? "true" : "false";
    }
  }

  /* ---------------------------------------------------------------- attach to a form */

  class AttachForm {
    constructor(form) {
      this.form = form;
      this.url = form.dataset.attachUrl;
      this.maxSize = Number(form.dataset.maxFileSize) || Infinity;
      this.maxSizeText = form.dataset.maxFileSizeText || "";
      this.input = form.querySelector("[data-attach-input]");
      this.chips = form.querySelector("[data-chips]");
      this.submit = form.querySelector("[data-attach-submit]");
      this.status = form.querySelector("[data-attach-status]");
      this.pending = 0;
      this.input.addEventListener("change", () => {
        for (const file of Array.from(this.input.files)) this.upload(file);
        this.input.value = ""; // the chips carry the files now, not the file control
      });
      form.addEventListener("submit", (event) => {
        if (this.pending) {
          event.preventDefault();
          this.status.textContent = "Wait until the files have finished uploading.";
        }
      });
    }

    chip(file) {
      const li = element("li", "chip is-uploading");
      const label = element("span", "chip-file");
      label.append(iconUse("other"), element("span", "chip-name", file.name), element("span", "chip-size", humanSize(file.size)));
      const progress = element("progress", "chip-progress");
      progress.max = 100;
      progress.value = 0;
      progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
      const remove = element("button", "chip-remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.appendChild(iconUse("x"));
      li.append(label, progress, remove);
      this.chips.append(li);
      return { li, progress, remove };
    }

    upload(file) {
      const chip = this.chip(file);
      if (file.size > this.maxSize) {
        this.failed(chip, file, `Too large: the limit is ${this.maxSizeText} per file.`);
        return;
      }
      const data = new FormData();
      data.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("HX-Request", "true"); // errors come back as a fragment
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) chip.progress.value = Math.floor((100 * event.loaded) / event.total);
      });
      const done = (handler) => () => {
        this.pending -= 1;
        this.updateSubmit();
        handler();
      };
      xhr.addEventListener("load", done(() => {
        if (xhr.status >= 200 && xhr.status < 300) {
          const template = document.createElement("template");
          template.innerHTML = xhr.responseText;
          const nodes = Array.from(template.content.children);
          chip.li.replaceWith(...nodes);
          for (const node of nodes) {
            if (window.htmx) window.htmx.process(node);
          }
        } else {
          this.failed(chip, file, errorFrom(xhr).message);
        }
      }));
      xhr.addEventListener("error", done(() => this.failed(chip, file, "The connection was interrupted.")));
      xhr.addEventListener("abort", done(() => chip.li.remove()));
      chip.remove.addEventListener("click", () => xhr.abort());
      this.pending += 1;
      this.updateSubmit();
      xhr.send(data);
    }

    failed(chip, file, message) {
      chip.li.classList.remove("is-uploading");
      chip.li.classList.add("is-failed");
      chip.progress.remove();
      const text = element("span", "chip-error", message);
      text.setAttribute("role", "alert");
      chip.li.insertBefore(text, chip.remove);
      const retry = element("button", "chip-retry", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => {
        chip.li.remove();
        this.upload(file);
      });
      if (file.size <= this.maxSize) chip.li.insertBefore(retry, chip.remove);
      const removeNow = chip.remove.cloneNode(true);
      chip.remove.replaceWith(removeNow);
      removeNow.addEventListener("click", () => chip.li.remove());
    }

    updateSubmit() {
      this.submit.disabled = this.pending > 0;
      this.status.textContent = this.pending ? `Uploading ${this.pending} file${this.pending === 1 ? "" : "s"}…` : "";
    }
  }

  /* ---------------------------------------------------------------- start */

  // Dropping a file outside the drop area must not navigate away to it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
  }

  function initialize(root) {
    localizeTimes(root);
    for (const panel of root.querySelectorAll("[data-uploader]:not([data-ready])")) {
      panel.dataset.ready = "true";
      new Uploader(panel);
    }
    for (const form of root.querySelectorAll("[data-attach]:not([data-ready])")) {
      form.dataset.ready = "true";
      new AttachForm(form);
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(initialize); // the page, and every piece htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", () => initialize(document));
  }
})();
