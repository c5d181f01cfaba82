// Uploads a file with tus-js-client under node, as a script using the library would.
//
//   node tus_js_client_upload.js ENDPOINT TOKEN FILE STORAGE [STOP_AFTER_BYTES]
//
// The upload URL is kept in STORAGE (tus-js-client's FileUrlStorage, keyed by the file's
// fingerprint), so a second run finds the first one's upload and resumes it. With
// STOP_AFTER_BYTES the process exits (without finishing or terminating) once that many bytes
// were acknowledged. The last stdout line is JSON: {"url", "resumedFrom", "offset", "fileId"}.
"use strict";

const fs = require("fs");
const path = require("path");
const tus = require("tus-js-client");

const [endpoint, token, file, storage, stopAfter] = process.argv.slice(2);
const MiB = 1024 * 1024;

function report(fields) {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

async function main() {
  const size = fs.statSync(file).size;
  let resumedFrom = null;
  const upload = new tus.Upload(fs.createReadStream(file), {
    endpoint,
    chunkSize: MiB,
    retryDelays: [0, 500, 1000],
    headers: { Authorization: `Bearer ${token}` },
    metadata: { filename: path.basename(file), folder: "from-node", filetype: "application/octet-stream" },
    uploadSize: size,
    urlStorage: new tus.FileUrlStorage(storage),
    removeFingerprintOnSuccess: true,
    onChunkComplete: (_chunk, accepted) => {
      if (stopAfter && accepted >= Number(stopAfter)) {
        report({ url: upload.url, resumedFrom, offset: accepted, fileId: null });
        process.exit(0);
      }
    },
    onSuccess: ({ lastResponse }) => {
      report({ url: upload.url, resumedFrom, offset: size, fileId: lastResponse.getHeader("Upload-File-Id") });
    },
    onError: (error) => {
      process.stderr.write(`${error}\n`);
      process.exit(1);
    },
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length) {
    upload.resumeFromPreviousUpload(previous[0]);
    const head = await fetch(previous[0].uploadUrl, {
      method: "HEAD",
      headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" },
    });
    resumedFrom = Number(head.headers.get("Upload-Offset"));
  }
  upload.start();
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
