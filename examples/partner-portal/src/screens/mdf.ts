/**
 * MDF claims with proof of performance. The partner picks one of its approved fund requests
 * (`GET /v1/mdf/requests?status=approved`), attaches files and claims (`POST /v1/mdf/claims`
 * naming the uploads in `proof_ids`). Each file is uploaded first, on its own:
 *
 * - straight to the S3-compatible store when the service keeps files there:
 *   `POST /v1/mdf/proofs/presigned` (name, type, exact size and SHA-256, computed here with
 *   WebCrypto), a `PUT` of the bytes to the URL it answers, then
 *   `POST /v1/mdf/proofs/{id}/complete`;
 * - else (the service answers the presign with 409: files are kept in PostgreSQL) as
 *   `multipart/form-data` to `POST /v1/mdf/proofs`, which the portal then uses for the rest
 *   of the session.
 */
import { isProblem, type components } from "@prm/sdk";

import { h, money, show, when } from "../dom.js";
import type { Api } from "../api.js";
import type { Context } from "../main.js";

type ProofUpload = components["schemas"]["ProofUploadOut"];
type ProofContentType = components["schemas"]["ProofContentType"];
type FundRequest = components["schemas"]["FundRequestOut"];

const TYPES: ProofContentType[] = ["application/pdf", "image/png", "image/jpeg", "text/csv", "text/plain"];
const MAX_FILES = 5;
let presignedUploads: boolean | undefined; // unknown until the service answered once

export async function mdfScreen(main: HTMLElement, { api }: Context): Promise<void> {
  const claims = h("div", { id: "claims" });
  const result = h("div", { id: "claim-result", role: "status", "aria-live": "polite" });
  show(main, h("h1", null, "Market development funds"), h("p", { class: "muted" }, "Loading…"));
  const { data } = await api.prm.GET("/v1/mdf/requests", {
    params: { query: { status: ["approved"], sort: "-created_at", limit: 100 } },
  });
  const requests = data!.items;
  const form = h("form", { id: "claim-form", class: "stack" },
    h("label", null, "Fund request ",
      h("select", { name: "request_id", required: true },
        requests.map((request) => h("option", { value: request.id, "data-amount": request.planned_cost.amount,
          "data-currency": request.planned_cost.currency },
        `${request.title} (${request.activity_type}, ${money(request.planned_cost)})`)))),
    h("label", null, "Amount claimed ", h("input", { name: "amount", required: true, inputmode: "decimal",
      pattern: "\\d+(\\.\\d{1,3})?", value: requests[0]?.planned_cost.amount ?? "" }),
    h("span", { class: "currency" }, requests[0]?.planned_cost.currency ?? "")),
    h("label", null, "What was done ", h("textarea", { name: "description", required: true, rows: 3, maxlength: 2000 })),
    h("label", null, `Proof of performance (up to ${MAX_FILES} files: PDF, PNG, JPEG, CSV or text; 256 KiB each) `,
      h("input", { type: "file", name: "proofs", multiple: true, required: true, accept: ".pdf,.png,.jpg,.jpeg,.csv,.txt" })),
    h("button", { type: "submit", class: "primary", disabled: requests.length === 0 }, "Submit claim"));
  const select = form.querySelector("select")!;
  select.addEventListener("change", () => {
    const option = select.selectedOptions[0];
    (form.elements.namedItem("amount") as HTMLInputElement).value = option?.dataset["amount"] ?? "";
    form.querySelector(".currency")!.textContent = option?.dataset["currency"] ?? "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submit(api, form, requests, result).then(() => listClaims(api, claims));
  });
  show(main,
    h("h1", null, "Market development funds"),
    h("h2", null, "Claim funds"),
    requests.length === 0 ? h("p", { class: "muted" }, "No approved fund request waits for a claim.") : "",
    form, result,
    h("h2", null, "Your claims"), claims);
  await listClaims(api, claims);
}

async function submit(api: Api, form: HTMLFormElement, requests: FundRequest[], result: HTMLElement): Promise<void> {
  const fields = new FormData(form);
  const request = requests.find((r) => r.id === fields.get("request_id"));
  const files = (fields.getAll("proofs") as File[]).filter((file) => file.size > 0);
  const button = form.querySelector("button[type=submit]") as HTMLButtonElement;
  if (!request) return;
  const wrong = files.find((file) => !TYPES.includes(file.type as ProofContentType));
  if (files.length === 0 || files.length > MAX_FILES || wrong) {
    show(result, h("p", { class: "panel error", role: "alert" }, wrong
      ? `${wrong.name}: only PDF, PNG, JPEG, CSV or text files are taken`
      : `Attach 1 to ${MAX_FILES} files`));
    return;
  }
  button.disabled = true;
  try {
    const uploads: ProofUpload[] = [];
    for (const [index, file] of files.entries()) {
      show(result, h("p", { class: "muted" }, `Uploading ${file.name} (${index + 1} of ${files.length})…`));
      uploads.push(await uploadProof(api, file));
    }
    show(result, h("p", { class: "muted" }, "Submitting the claim…"));
    const { data } = await api.prm.POST("/v1/mdf/claims", {
      body: {
        request_id: request.id,
        amount: { amount: String(fields.get("amount")), currency: request.planned_cost.currency },
        description: String(fields.get("description")),
        proof_ids: uploads.map((upload) => upload.id),
        proofs: [], // the deprecated inline files: none
      },
    });
    const claim = data!;
    show(result, h("div", { class: "panel ok", "data-claim-id": claim.id, "data-status": claim.status },
      h("strong", null, `Claim ${claim.status}: ${money(claim.amount)}`),
      h("ul", null, claim.proofs.map((proof) => h("li", { "data-proof-id": proof.id, "data-sha256": proof.sha256 },
        `${proof.filename} (${proof.size} bytes)`)))));
    // The request is claimed now: it is offered no more.
    form.querySelector(`option[value="${request.id}"]`)?.remove();
    form.reset();
    form.querySelector("select")!.dispatchEvent(new Event("change"));
    button.toggleAttribute("data-none-left", form.querySelectorAll("option").length === 0);
  } catch (error) {
    show(result, h("div", { class: "panel error", role: "alert" }, error instanceof Error ? error.message : String(error)));
  } finally {
    button.disabled = button.hasAttribute("data-none-left");
  }
}

/** One file uploaded, straight to the store if the service offers it, else through the API. */
export async function uploadProof(api: Api, file: File): Promise<ProofUpload> {
  const contentType = file.type as ProofContentType;
  if (presignedUploads !== false) {
    const bytes = await file.arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    let presigned: components["schemas"]["PresignedUploadOut"] | undefined;
    try {
      ({ data: presigned } = await api.prm.POST("/v1/mdf/proofs/presigned", {
        body: { filename: file.name, content_type: contentType, size: file.size, sha256 },
      }));
      presignedUploads = true;
    } catch (error) {
      if (!isProblem(error) || error.status !== 409) throw error;
      presignedUploads = false; // files are kept in PostgreSQL: upload through the API
    }
    if (presigned) {
      const put = await fetch(presigned.url, { method: presigned.method, headers: presigned.headers, body: bytes });
      if (!put.ok) throw new Error(`the file store refused ${file.name} (HTTP ${put.status})`);
      const { data } = await api.prm.POST("/v1/mdf/proofs/{proof_id}/complete", {
        params: { path: { proof_id: presigned.proof.id } },
      });
      return data!;
    }
  }
  const body = new FormData();
  body.append("file", file, file.name);
  body.append("filename", file.name); // the exact name, whatever the part's header makes of it
  // openapi-fetch sends a FormData body as it is (multipart, with its boundary).
  const { data } = await api.prm.POST("/v1/mdf/proofs", { body: body as unknown as { file: string } });
  return data!;
}

async function listClaims(api: Api, where: HTMLElement): Promise<void> {
  const { data } = await api.prm.GET("/v1/mdf/claims", { params: { query: { sort: "-created_at", limit: 20 } } });
  const items = data!.items;
  show(where, items.length === 0 ? h("p", { class: "muted" }, "No claims yet.") :
    h("table", { id: "claim-table" },
      h("thead", null, h("tr", null, ["Claimed", "Approved", "Status", "Proofs", "Submitted"].map((c) => h("th", null, c)))),
      h("tbody", null, items.map((claim) => h("tr", { "data-claim-id": claim.id, "data-status": claim.status },
        h("td", { class: "money" }, money(claim.amount)),
        h("td", { class: "money" }, claim.approved_amount ? money(claim.approved_amount) : "—"),
        h("td", null, h("span", { class: `status status-${claim.status}` }, claim.status)),
        h("td", null, claim.proofs.map((proof) => proof.filename).join(", ")),
        h("td", null, when(claim.created_at)))))));
}
