// The process entry point: parse argv, run, exit with the command's code.
import { run } from './main.js';

process.exitCode = await run(process.argv.slice(2));
