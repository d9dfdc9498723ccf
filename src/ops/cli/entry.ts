// The process entry point: parse argv, run, exit with the command's code.
import { deferDefaultEwsTransport } from '../../ews/lazy-default-transport.js';

// before anything loads ews-javascript-api (main.js's imports do)
deferDefaultEwsTransport();
const { run } = await import('./main.js');
process.exitCode = await run(process.argv.slice(2));
