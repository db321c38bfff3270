/** `arrowquant export <file.parquet> --to gguf|safetensors -o <out>`. */
import { Command, Option } from 'commander';

import { openQuantized } from '../../common/format/reader.js';
import { exportGguf, knownArchitectures, REENCODINGS, type Reencoding } from '../../common/export/gguf/index.js';
import { exportSafetensors } from '../../common/export/safetensors.js';
import { formatBytes, log, outputMode } from '../output/terminal.js';
import { globalOptions } from './global.js';

interface ExportFlags {
  to: 'gguf' | 'safetensors';
  output: string;
  component?: string;
  reencode?: Reencoding;
  arch?: string;
  model?: string;
  tokenizerPre?: string;
}

export function exportCommand(): Command {
  return new Command('export')
    .summary('write a quantized file as GGUF, or dequantized as safetensors')
    .description(
      'gguf: q4_0/q8_0 tensors byte for byte as GGUF Q4_0/Q8_0, kept tensors in their dtype, names as in the source;\n' +
        'tensors GGUF cannot hold are refused unless --reencode says what to write instead.\n' +
        'safetensors: every tensor dequantized to its source dtype (kept ones byte for byte), one folder per pipeline component.',
    )
    .argument('<file>', 'an ArrowQuant .parquet file')
    .addOption(new Option('--to <format>', 'output format').choices(['gguf', 'safetensors']).makeOptionMandatory())
    .requiredOption('-o, --output <path>', 'gguf: the .gguf file; safetensors: a directory')
    .option('--component <name>', 'pipeline component to export (gguf: required for a pipeline, except with --arch sd1|sdxl: the whole checkpoint)')
    .addOption(new Option('--reencode <type>', 'gguf: write tensors GGUF cannot hold as this type (dequantized first)').choices(REENCODINGS))
    .option(
      '--arch <name>',
      `gguf: the runtime layout (${knownArchitectures().map((a) => `${a.name}: ${a.summary}`).join('; ') || 'none yet'}); any other name: source names with that general.architecture (default "arrowquant")`,
    )
    .option('--model <dir>', 'gguf: the model folder the file was quantized from (config.json, tokenizer files), for the LLM layouts')
    .option('--tokenizer-pre <name>', "gguf: llama.cpp's pre-tokenizer name (tokenizer.ggml.pre), where the tokenizer's cannot be told")
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  arrowquant export flux.q4_0.parquet --to gguf --component transformer -o flux-q4_0.gguf\n' +
        '  arrowquant export dit.int4.parquet --to gguf --reencode f16 -o dit.gguf\n' +
        '  arrowquant export dream.q4_k_m.parquet --to gguf --arch dream --model ./Dream-v0-Instruct-7B -o dream-Q4_K_M.gguf   # docs/RUN-LLAMA-CPP.md\n' +
        '  arrowquant export flux.q4_k.parquet --to gguf --arch flux --component transformer -o flux1-Q4_K.gguf   # docs/RUN-SD-CPP.md\n' +
        '  arrowquant export dit.int4.parquet --to safetensors -o dit-dequantized/',
    )
    .action(async (file: string, flags: ExportFlags, cmd: Command) => {
      const mode = outputMode(globalOptions(cmd));
      const f = await openQuantized(file);
      if (flags.to === 'gguf') {
        const r = await exportGguf(f, flags.output, {
          ...(flags.component !== undefined ? { component: flags.component } : {}),
          ...(flags.reencode !== undefined ? { reencode: flags.reencode } : {}),
          ...(flags.arch !== undefined ? { arch: flags.arch } : {}),
          ...(flags.model !== undefined ? { modelDir: flags.model } : {}),
          ...(flags.tokenizerPre !== undefined ? { tokenizerPre: flags.tokenizerPre } : {}),
        });
        for (const n of r.notes) log(mode, 'note', `note: ${n}`, { note: n }, 'info');
        for (const x of r.reencoded) log(mode, 'reencoded', `re-encoded ${x.tensor}: ${x.from} → ${x.to} (${x.why})`, x, 'warn');
        if (r.droppedTimeGroups > 0) log(mode, 'time_groups_dropped', `note: ${r.droppedTimeGroups} tensors have time-aware activation parameters, which GGUF cannot hold; they are not in the file`, { tensors: r.droppedTimeGroups }, 'warn');
        log(mode, 'export', `wrote ${r.path}: ${r.tensors} tensors, ${formatBytes(r.bytes)}${r.reencoded.length ? `, ${r.reencoded.length} re-encoded` : ''}`, { path: r.path, tensors: r.tensors, bytes: r.bytes, reencoded: r.reencoded.length });
      } else {
        if (flags.reencode !== undefined || flags.arch !== undefined || flags.model !== undefined || flags.tokenizerPre !== undefined) throw new Error('--reencode, --arch, --model and --tokenizer-pre apply to --to gguf only');
        const r = await exportSafetensors(f, flags.output, flags.component !== undefined ? { component: flags.component } : {});
        for (const x of r.files) log(mode, 'export', `wrote ${x.path}: ${x.tensors} tensors, ${formatBytes(x.bytes)}`, x);
      }
    });
}
