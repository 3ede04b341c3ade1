import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { DEFAULT_ENABLE, isSecretFile, languageEnabled, whyNoSuggestion } from "../../../extension/src/scope";

test("the built-in enable map is package.json's default", () => {
  const manifest = JSON.parse(readFileSync(path.resolve(__dirname, "../..", "package.json"), "utf8"));
  const general = manifest.contributes.configuration.find((section: { title: string }) => section.title === "General");
  assert.deepEqual(general.properties["growpilot.enable"].default, DEFAULT_ENABLE);
});

test("prose, dotenv and commit messages are off by default; the map and * override", () => {
  assert.equal(languageEnabled(undefined, "python"), true);
  for (const id of ["plaintext", "markdown", "dotenv", "scminput"]) assert.equal(languageEnabled(undefined, id), false, id);
  assert.equal(languageEnabled({ markdown: true }, "markdown"), true);
  assert.equal(languageEnabled({ "*": false }, "python"), false);
  assert.equal(languageEnabled({ "*": false, python: true }, "python"), true);
});

test("manual trigger mode asks only when invoked", () => {
  const base = { completionsEnabled: true, languageId: "python", enable: undefined };
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "manual", invoked: false }), "manual trigger mode");
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "manual", invoked: true }), undefined);
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "automatic", invoked: false }), undefined);
  assert.equal(whyNoSuggestion({ ...base, completionsEnabled: false, triggerMode: "automatic", invoked: true }), "completions are off");
  assert.match(whyNoSuggestion({ ...base, languageId: "markdown", triggerMode: "automatic", invoked: true }) ?? "", /markdown/);
});

const NAMES = [
  ".env", ".ENV", ".env.local", ".env.example", "prod.env", ".envrc", "env.py", ".environment",
  "server.pem", "tls.key", "keys.py", "id_rsa", "id_rsa.pub", "id_ed25519", ".npmrc", "npmrc.md",
  "credentials.json", "secrets.yaml", "secrets.py", "main.tfvars", "main.tfvars.example", "config.dist",
  "src/app/.env", "C:\\proj\\.env.production", "a/.env/lib.py", "notes.txt", "Makefile",
];

test("secret files are told by name, templates are not", () => {
  const rules = { secretFilePatterns: [".env", ".env.*", "*.env", "*.pem", "id_[rd]sa*", "secret?.yaml"], secretFileExceptions: ["*.example"] };
  assert.equal(isSecretFile("/w/.env", rules), true);
  assert.equal(isSecretFile("/w/.ENV.local", rules), true);
  assert.equal(isSecretFile("/w/.env.example", rules), false);
  assert.equal(isSecretFile("/w/.env/site.py", rules), false); // a folder named .env (a virtualenv)
  assert.equal(isSecretFile("C:\\w\\prod.env", rules), true);
  assert.equal(isSecretFile("/w/id_dsa.pub", rules), true);
  assert.equal(isSecretFile("/w/id_xsa", rules), false);
  assert.equal(isSecretFile("/w/secrets.yaml", rules), true);
  assert.equal(isSecretFile("/w/a.pem.py", rules), false);
  assert.equal(isSecretFile("/w/env", rules), false);
  assert.equal(isSecretFile("/w/.env", undefined), false); // an older daemon advertises nothing
});

// The daemon decides what is secret (indexing/secrets.py); the extension must agree on every name.
const python = process.env.GROWPILOT_E2E_PYTHON ?? path.resolve(__dirname, "../..", ".venv/bin/python");
test("the extension agrees with the daemon on which files are secret", { skip: !existsSync(python) && `no ${python}` }, () => {
  const script = [
    "import json, sys",
    "from growpilot.indexing.secrets import SECRET_FILE_PATTERNS as P, SECRET_FILE_EXCEPTIONS as E, is_secret_path",
    "names = json.load(sys.stdin)",
    "print(json.dumps({'rules': {'secretFilePatterns': P, 'secretFileExceptions': E}, 'secret': [is_secret_path(n) for n in names]}))",
  ].join("\n");
  const out = JSON.parse(execFileSync(python, ["-c", script], { input: JSON.stringify(NAMES), encoding: "utf8" }));
  assert.deepEqual(NAMES.map((name) => isSecretFile(name, out.rules)), out.secret);
  assert.ok(out.secret.filter(Boolean).length >= 10, "the names cover secret files");
});
