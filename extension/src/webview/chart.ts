/**
 * The dashboard webview's chart library: Chart.js (npm `chart.js`) with every chart type registered, as
 * the global `Chart` that growpilot/dashboard/dashboard.js draws with. Bundled by esbuild to
 * dist/webview/chart.js (package.json `build:webview`), loaded from the extension, never the network.
 */
import { Chart, registerables } from "chart.js";

Chart.register(...registerables);
(globalThis as { Chart?: typeof Chart }).Chart = Chart;
