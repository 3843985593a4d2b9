// Prints docs/CONFIG.md; the command is CONFIG_DOC_COMMAND. Nothing imports this entry point.
import { renderConfigDoc } from './doc.js';

process.stdout.write(renderConfigDoc());
