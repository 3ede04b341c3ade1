/**
 * The daemon's lifecycle: resolve Python, spawn `<python> -m growpilot serve`, talk LSP to it over
 * stdio with vscode-languageclient, and turn every way it can fail to start, or die, into ONE clear
 * notification — never a silent failure, never a restart loop.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as readline from "node:readline";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ProgressToken,
} from "vscode-languageclient/node";
import { describeFailure } from "./failure";
import { IndexProgressNotifications } from "./indexProgress";
import { type AdapterChanged, type TrainingDone, type TrainingSchedule } from "./learning";
import { type ProgressKind, progressKind } from "./progress";
import { growpilotHome, type ResolvedPython, resolvePython } from "./python";
import { acceptedGenerationId } from "./ratings";
import { type SettingsReader, expandHome, toInitializationOptions, trustAwareSettings } from "./settings";
import { type SecretFileRules, isSecretFile, whyNoSuggestion } from "./scope";
import { DaemonStatus, type ModelReady } from "./status";

/** The notification that ends a training cycle; the extension tells the daemon it shows these itself. */
const TRAINING_DONE = "growpilot/trainingDone";
/** The cursor rests here: the daemon prefills the prompt a request there would get (PROTOCOL.md). */
const WARM_UP = "growpilot/warmUp";

/** The extension-only command every inline item's `growpilot.accept` is rewrapped into. */
export const INLINE_ACCEPTED = "growpilot.inlineAccepted";

export interface InlineAccepted {
  generationId: string;
  uri: string;
  line: number;
  /** Code actions (actions.ts): the lens's label, the accept's source, show the document (generated
   * tests land in another file), and whether it was applied at all (Explain is only shown). */
  label?: string;
  source?: string;
  reveal?: boolean;
  recordAccept?: boolean;
}

export class DaemonNotRunning extends Error {
  constructor() {
    super("The Growpilot daemon is not running.");
  }
}

/** Our notifications replace the languageclient's own ones, which would double each failure. */
class GrowpilotLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

const STDERR_TAIL = 40;

/** An untrusted workspace's own pythonPath/modelPath/embedderPath are ignored (settings.ts). */
function settings(): SettingsReader {
  return trustAwareSettings(vscode.workspace.getConfiguration("growpilot"), vscode.workspace.isTrusted);
}

function fileFolders(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath);
}

/** One start of the daemon: its process, its client and what it said on stderr. */
class Run {
  client!: GrowpilotLanguageClient;
  process?: ChildProcess;
  spawnError?: NodeJS.ErrnoException;
  /** Resolves when the process has exited and its stderr is fully read. */
  closed?: Promise<void>;
  readonly stderr: string[] = [];
  /** `$/progress` tokens of indexing passes and training cycles, which we show ourselves (indexProgress.ts, status.ts). */
  readonly progress = new Map<ProgressToken, ProgressKind>();
  stopping = false;
  reported = false;
  constructor(readonly python: ResolvedPython) {}

  get alive(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }
}

export class Daemon implements vscode.Disposable {
  readonly status = new DaemonStatus();
  private readonly indexNotifications = new IndexProgressNotifications();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires whenever `status` or the running state changes. */
  readonly onDidChange = this.changed.event;
  private readonly trainingDone = new vscode.EventEmitter<TrainingDone>();
  /** `growpilot/trainingDone`: a cycle ended (after `status` took it in). */
  readonly onTrainingDone = this.trainingDone.event;
  private run: Run | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** More middleware (code actions: actions.ts), set before start. */
  extraMiddleware: Middleware = {};

  constructor(private readonly log: vscode.LogOutputChannel) {}

  get running(): boolean {
    return this.run !== undefined && this.status.isRunning;
  }

  /** Commands the running daemon implements (its `executeCommandProvider.commands`). */
  serverCommands(): readonly string[] {
    return this.running ? (this.run?.client.initializeResult?.capabilities.executeCommandProvider?.commands ?? []) : [];
  }

  async execute<T>(command: string, args: unknown[] = []): Promise<T> {
    if (!this.running || !this.run) throw new DaemonNotRunning();
    return this.run.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  /** `growpilot.reindex`, with its progress shown as a notification. */
  reindex<T>(): Promise<T> {
    return this.indexNotifications.during(() => this.execute<T>("growpilot.reindex", []));
  }

  setCompletionsEnabled(enabled: boolean): void {
    this.status.completionsEnabled = enabled;
    this.fire();
  }

  /**
   * The cursor has rested in `editor`: where a keystroke would ask for a suggestion, let the daemon
   * prefill that position's prompt (`growpilot/warmUp`), so the suggestion comes sooner.
   */
  cursorRested(editor: vscode.TextEditor): void {
    const run = this.run;
    const document = editor.document;
    if (!this.running || !run || editor.selections.length !== 1 || !editor.selection.isEmpty) return;
    if (!["file", "untitled"].includes(document.uri.scheme) || this.isSecret(run, document)) return;
    const config = vscode.workspace.getConfiguration("growpilot", document);
    const skip = whyNoSuggestion({
      completionsEnabled: this.status.completionsEnabled && config.get<boolean>("warmUp", true),
      triggerMode: config.get<string>("triggerMode"),
      invoked: false, // manual trigger mode: no model work the user did not ask for
      languageId: document.languageId,
      enable: config.get<Record<string, unknown>>("enable"),
    });
    if (skip) return;
    const position = run.client.code2ProtocolConverter.asPosition(editor.selection.active);
    void run.client.sendNotification(WARM_UP, { textDocument: { uri: document.uri.toString() }, position });
  }

  /** A file that holds secrets, by the daemon's advertised rules: never sent to it. */
  private isSecret(run: Run, document: vscode.TextDocument): boolean {
    return isSecretFile(document.uri.path, run.client.initializeResult?.capabilities.experimental?.growpilot as SecretFileRules | undefined);
  }

  /** Sends the current settings (after a change that needs no restart). */
  notifySettings(): void {
    if (!this.running || !this.run) return;
    const growpilot = toInitializationOptions(settings(), os.homedir());
    void this.run.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { growpilot } });
  }

  start(): Promise<void> {
    return this.serially(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serially(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serially(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.changed.dispose();
    this.trainingDone.dispose();
  }

  /** Start/stop/restart never overlap: each waits for the one before. */
  private serially(step: () => Promise<void>): Promise<void> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private fire(): void {
    this.changed.fire();
  }

  private async doStart(): Promise<void> {
    const folders = fileFolders();
    this.status.starting(folders.length > 0);
    this.fire();
    const python = await resolvePython({
      setting: expandHome(String(settings().get("pythonPath") ?? "").trim(), os.homedir()),
      workspaceFolders: folders,
      trusted: vscode.workspace.isTrusted,
      growpilotHome: growpilotHome(process.env, os.homedir()),
      isFile: async (file) => (await fs.stat(file).catch(() => undefined))?.isFile() ?? false,
      readFile: (file) => fs.readFile(file, "utf8").catch(() => undefined),
      cannotRunDaemon: (candidate) => cannotImportGrowpilot(candidate, folders[0]),
      pythonExtension: () => pythonExtensionInterpreter(),
    });
    for (const skipped of python.skipped) {
      this.log.info(`Not using ${skipped.command} (${skipped.source}): ${skipped.reason}`);
    }
    this.log.info(`Starting the daemon: ${python.command} -m growpilot serve (Python from ${python.source})`);

    const run = new Run(python);
    run.client = new GrowpilotLanguageClient("growpilot", "Growpilot", () => this.spawn(run, folders[0]), this.clientOptions(run));
    run.client.registerProposedFeatures(); // textDocument/inlineCompletion is sent only with these
    run.client.onNotification("growpilot/indexReady", () => {
      this.status.indexReady();
      this.fire();
    });
    run.client.onNotification("growpilot/modelReady", (params: ModelReady) => {
      this.status.modelReady(params);
      if (params.error) this.log.warn(`The model failed to load: ${params.error}`);
      this.fire();
    });
    run.client.onNotification("growpilot/adapterChanged", (params: AdapterChanged) => {
      this.log.info(`Adapter of ${params.folderUri}: ${params.previous ?? "base"} → ${params.adapter ?? "base"} (${params.reason})`);
      this.status.adapterChanged(params);
      this.fire();
    });
    run.client.onNotification("growpilot/trainingSchedule", (params: TrainingSchedule) => {
      this.status.trainingSchedule(params);
      this.fire();
    });
    run.client.onNotification(TRAINING_DONE, (params: TrainingDone) => {
      this.log.info(`Training of ${params.folderUri} ended: ${params.error ?? `${params.version} ${params.decision}: ${params.reason}`}`);
      this.status.trainingDone(params);
      this.fire();
      this.trainingDone.fire(params);
    });
    this.run = run;
    try {
      await run.client.start();
      this.status.running();
      this.fire();
    } catch (error) {
      await this.reportFailure(run, "failed to start", error);
    }
  }

  private async doStop(): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.stopping = true;
    this.run = undefined;
    try {
      // A client that failed to start, or whose process died, is already stopped.
      if (run.client.needsStop()) await run.client.dispose(5000);
    } catch (error) {
      this.log.warn(`Stopping the daemon: ${String(error)}`);
    }
    // A daemon that ignored shutdown/exit must not outlive its client.
    if (run.process && run.alive) {
      run.process.kill("SIGTERM");
      const exited = await Promise.race([run.closed?.then(() => true), delay(3000).then(() => false)]);
      if (!exited) run.process.kill("SIGKILL");
    }
    this.status.stopped();
    this.fire();
  }

  private clientOptions(run: Run): LanguageClientOptions {
    // A file that holds secrets (by the daemon's advertised rules) is never sent: not opened, not
    // changed, no request. The daemon refuses them too; this keeps their text out of the pipe.
    const secret = (document: vscode.TextDocument): boolean => this.isSecret(run, document);
    const middleware: Middleware = {
      ...this.extraMiddleware,
      didOpen: (document, next) => (secret(document) ? Promise.resolve() : next(document)),
      didChange: (event, next) => (secret(event.document) ? Promise.resolve() : next(event)),
      didSave: (document, next) => (secret(document) ? Promise.resolve() : next(document)),
      didClose: (document, next) => (secret(document) ? Promise.resolve() : next(document)),
      willSave: (event, next) => (secret(event.document) ? Promise.resolve() : next(event)),
      provideCodeActions: (document, range, context, token, next) => (secret(document) ? [] : next(document, range, context, token)),
      // The daemon also serves textDocument/completion for other editors; in VS Code the same
      // suggestion is ghost text, and asking twice would run the model twice per keystroke.
      provideCompletionItem: () => undefined,
      // Rewrap `growpilot.accept` so an accepted item also gets its rating CodeLens (feedback.ts).
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (secret(document)) return null;
        const config = vscode.workspace.getConfiguration("growpilot", document);
        const skip = whyNoSuggestion({
          completionsEnabled: this.status.completionsEnabled,
          triggerMode: config.get<string>("triggerMode"),
          invoked: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
          languageId: document.languageId,
          enable: config.get<Record<string, unknown>>("enable"),
        });
        if (skip) return null;
        this.status.requestBegin();
        this.fire();
        let result: Awaited<ReturnType<typeof next>>;
        try {
          result = await next(document, position, context, token);
        } finally {
          this.status.requestEnd();
          this.fire();
        }
        const items = Array.isArray(result) ? result : (result?.items ?? []);
        for (const item of items) {
          const generationId = acceptedGenerationId(item.command);
          if (!generationId) continue;
          const accepted: InlineAccepted = {
            generationId,
            uri: document.uri.toString(),
            line: (item.range?.start ?? position).line,
          };
          item.command = { title: "Accept Growpilot suggestion", command: INLINE_ACCEPTED, arguments: [accepted] };
        }
        return result;
      },
      // Indexing and training progress drive the status bar (indexing also a notification during
      // Reindex Workspace); told apart by their begin titles. languageclient would only add a second
      // status bar spinner, so it just sees the end, to clean up.
      handleWorkDoneProgress: (token, params, next) => {
        const begun = progressKind(params);
        if (begun) run.progress.set(token, begun);
        const kind = run.progress.get(token);
        if (!kind) return next(token, params);
        if (kind === "indexing") {
          if (params.kind === "begin") this.status.progressBegin(token);
          else if (params.kind === "report") this.status.progressReport(token, params.message);
          else this.status.progressEnd(token);
          this.indexNotifications.handle(token, params);
        } else if (params.kind === "begin") this.status.trainingBegin(token, params.title);
        else if (params.kind === "report") this.status.trainingReport(token, params.message, params.percentage);
        else this.status.trainingEnd(token);
        if (params.kind === "end") {
          run.progress.delete(token);
          next(token, params);
        }
        if (run === this.run) this.fire();
      },
    };
    return {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      // clientHandles: we show training outcomes ourselves (training.ts), so the daemon sends no message of its own.
      initializationOptions: { ...toInitializationOptions(settings(), os.homedir()), clientHandles: [TRAINING_DONE] },
      outputChannel: this.log,
      // We read stderr ourselves (spawn) to keep its tail for error messages.
      stdioOptions: { stdout: () => undefined, stderr: () => undefined },
      middleware,
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) > 3 ? ErrorAction.Shutdown : ErrorAction.Continue,
          handled: true,
        }),
        closed: () => {
          // Called when the process dies under a running client: say so once, do not respawn.
          if (!run.stopping && this.status.isRunning) void this.reportFailure(run, "stopped", undefined);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
  }

  private async spawn(run: Run, cwd: string | undefined): Promise<ChildProcess> {
    const child = spawn(run.python.command, ["-m", "growpilot", "serve"], {
      cwd: cwd ?? os.homedir(),
      env: process.env,
      stdio: "pipe",
    });
    run.process = child;
    run.closed = new Promise((resolve) => child.once("close", () => resolve()));
    readline.createInterface({ input: child.stderr, crlfDelay: Infinity }).on("line", (line) => {
      this.log.info(`[daemon] ${line}`);
      run.stderr.push(line);
      if (run.stderr.length > STDERR_TAIL) run.stderr.shift();
    });
    child.once("exit", (code, signal) => {
      this.log.info(`The daemon exited (${signal ?? `code ${code}`}).`);
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) => {
        run.spawnError = error;
        reject(error);
      });
    });
    return child;
  }

  private async reportFailure(run: Run, what: string, error: unknown): Promise<void> {
    if (run.reported || run.stopping) return;
    run.reported = true;
    // The reason is usually the process's last stderr line: wait (briefly) until it has all arrived.
    if (run.process && !run.spawnError) await Promise.race([run.closed, delay(3000)]);
    const reason = describeFailure({
      python: run.python.command,
      source: run.python.source,
      spawnError: run.spawnError,
      // Still alive: it answered, but `initialize` failed (the client is shut down, so end it too).
      startError: run.alive && error instanceof Error ? error.message : undefined,
      exitCode: run.process?.exitCode,
      signal: run.process?.signalCode,
      stderr: run.stderr,
    });
    if (run.alive) run.process?.kill("SIGTERM");
    this.log.error(`The daemon ${what}: ${reason}`);
    if (run !== this.run) return;
    this.status.failed(reason);
    this.fire();
    // Only a Python that cannot run the daemon is fixed in that setting (not a crash).
    const pythonProblem = run.spawnError !== undefined || /is not installed for/.test(reason);
    const choice = await vscode.window.showErrorMessage(
      `Growpilot daemon ${what}: ${reason}`,
      ...(pythonProblem ? ["Set Python Path…"] : []),
      "Open Log",
      "Restart Daemon",
    );
    if (choice === "Open Log") this.log.show(true);
    else if (choice === "Restart Daemon") void this.restart();
    else if (choice === "Set Python Path…") void vscode.commands.executeCommand("workbench.action.openSettings", "growpilot.pythonPath");
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const IMPORT_CHECK_TIMEOUT_MS = 10_000;

/** Why `<python> -c "import growpilot"` fails, run as the daemon would be (same cwd); undefined if it works. */
function cannotImportGrowpilot(python: string, cwd: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      python,
      ["-c", "import growpilot"],
      { cwd: cwd ?? os.homedir(), env: process.env, timeout: IMPORT_CHECK_TIMEOUT_MS },
      (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        if (error.killed) return resolve(`\`import growpilot\` took longer than ${IMPORT_CHECK_TIMEOUT_MS / 1000} s`);
        const last = String(stderr).trim().split("\n").pop()?.trim();
        resolve(`\`import growpilot\` fails (${last || error.message})`);
      },
    );
  });
}

/** The subset of the ms-python.python extension API we use (both its current and older shapes). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(env: { path: string }): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
  settings?: { getExecutionDetails(resource?: vscode.Uri): { execCommand?: string[] } };
}

async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>("ms-python.python");
  if (!extension) return undefined;
  const api = extension.isActive ? extension.exports : await Promise.race([extension.activate(), delay(10000)]);
  if (!api) return undefined;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const active = api.environments?.getActiveEnvironmentPath(folder);
  if (active && api.environments) {
    const resolved = await api.environments.resolveEnvironment(active);
    if (resolved?.executable?.uri) return resolved.executable.uri.fsPath;
  }
  return api.settings?.getExecutionDetails(folder).execCommand?.[0];
}
