/** `arrowquant quantize <model> -o <out.parquet> [...]`: the main job, in-process. */
import { Command, Option } from 'commander';

import { METHODS, MIXES, MODALITIES, DEPLOYMENT_PROFILES, describeConfig, resolveConfig, type CliValues } from '../../common/config/index.js';
import { Progress } from '../output/progress.js';
import { summaryTable } from '../output/summary.js';
import { formatBytes, log, outputMode } from '../output/terminal.js';
import { nativeMemory } from '../../common/native.js';
import { globalOptions } from './global.js';
import { addTlsFlags, tlsFrom } from './cluster-flags.js';

interface QuantizeFlags {
  output: string;
  profile?: string;
  config?: string;
  bits?: string;
  groupSize?: string;
  method?: string;
  mode?: 'streaming' | 'threaded';
  threads?: string;
  modality?: string;
  minAccuracy?: string;
  failFast?: boolean;
  calibration?: string;
  mix?: string;
  gptqFormat?: string;
  imatrix?: string;
  uniformImportance?: boolean;
  targetMemoryGb?: string;
  report?: string;
  reportHtml?: string;
  coordinator?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
}

/** Flag names, for error messages that say where a bad value came from. */
const FLAG_NAMES = {
  deployment_profile: '--profile',
  bit_width: '--bits',
  group_size: '--group-size',
  method: '--method',
  enable_streaming: '--mode',
  num_threads: '--threads',
  modality: '--modality',
  min_accuracy: '--min-accuracy',
  fail_fast: '--fail-fast',
  calibration: '--calibration',
  mix: '--mix',
  gptq_format: '--gptq-format',
  imatrix: '--imatrix',
  uniform_importance: '--uniform-importance',
  target_memory_gb: '--target-memory-gb',
} as const;

export function quantizeCommand(): Command {
  const cmd = new Command('quantize')
    .summary('quantize a model directory into one ArrowQuant Parquet file')
    .description(
      'Quantize a safetensors model (a file, a directory, a sharded checkpoint or a diffusers pipeline folder)\n' +
        'into one Parquet file with per-tensor quality figures. Settings come from, highest first:\n' +
        'flags > ARROW_QUANT_* environment variables > --config YAML > --profile > defaults.',
    )
    .argument('<model>', 'model path: .safetensors file, model directory or diffusers pipeline folder')
    .requiredOption('-o, --output <file>', 'output Parquet file (written atomically)')
    .addOption(new Option('--profile <name>', 'deployment profile').choices(DEPLOYMENT_PROFILES))
    .option('--config <file>', 'YAML configuration (see config.example.yaml)')
    .option('--bits <n>', 'bit width: 2, 4 or 8 (the default method, auto, never stores fewer)')
    .option('--group-size <n>', 'elements per quantization group: 32, 64, 128 or 256')
    .addOption(new Option('--method <name>', 'quantization method (default: auto, the strategy table at --bits: docs/STRATEGY.md)').choices(METHODS))
    .addOption(new Option('--mode <mode>', 'streaming: one chunk in memory; threaded: read-ahead and all cores').choices(['streaming', 'threaded']))
    .option('--threads <n>', 'kernel threads (0 = all cores)')
    .addOption(new Option('--modality <m>', 'override modality detection').choices(MODALITIES))
    .option('--min-accuracy <x>', 'cosine similarity below which a tensor falls back to more bits (0-1)')
    .option('--fail-fast', 'stop at the first tensor below --min-accuracy instead of falling back')
    .option('--target-memory-gb <gb>', 'fit the stored model in this many GB: per-tensor 2/4/8 bits or keep, by measured error')
    .option('--calibration <file>', 'calibration statistics (safetensors; docs/CALIBRATION.md) for gptq, r2q, auto, spatial smoothing and time-aware activations')
    .addOption(new Option('--mix <name>', "a llama.cpp quantization mix: each tensor's GGUF format by its role (q4_k_m: q4_k with q6_k where llama.cpp uses more bits; q4_0: q4_0 with a q6_k output head)").choices(MIXES))
    .option('--gptq-format <format>', 'the grid --method gptq quantizes onto (default: rtn at --bits; q2_k..q6_k: GPTQ inside the K-quant search, an ordinary GGUF tensor)')
    .option('--imatrix <file>', 'a llama.cpp importance matrix (imatrix.gguf or .dat) for the K-quants and q4_0/q4_1/q5_0/q5_1')
    .option('--uniform-importance', "importance 1 for every column where no imatrix or Hessian gives one (stable-diffusion.cpp's convert: docs/RUN-SD-CPP.md)")
    .option('--report <file>', 'write a JSON report (paths, timings, per-tensor figures)')
    .option('--report-html <file>', 'write a self-contained HTML report (error per layer, bits allocation, fallbacks, timings)')
    .option('--coordinator <host:port>', 'run on a cluster: submit to this coordinator (paths are resolved on its side)');
  addTlsFlags(cmd);
  return cmd
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  arrowquant quantize ./flux-dev -o flux.q4.parquet --bits 4\n' +
        '  arrowquant quantize ./dream-7b -o dream.int2.parquet --profile edge --report report.json   # 2-bit, streaming\n' +
        '  ARROW_QUANT_BIT_WIDTH=8 arrowquant quantize model.safetensors -o out.parquet --method q8_0\n' +
        '  arrowquant quantize ./dit -o dit.gptq4.parquet --method gptq --calibration calib.safetensors --bits 4 --group-size 128\n' +
        '  arrowquant quantize ./flux -o flux.q4_k_m.parquet --mix q4_k_m --imatrix flux.imatrix.gguf   # then: export --to gguf\n' +
        '  arrowquant quantize ./dream -o dream.gptq-q4_k.parquet --method gptq --gptq-format q4_k --calibration calib.safetensors\n' +
        '  arrowquant quantize /models/flux -o /out/flux.int4.parquet --coordinator coord:7070 --tls-cert client.pem --tls-key client-key.pem --tls-ca ca.pem',
    )
    .action(async (model: string, flags: QuantizeFlags, cmd: Command) => {
      const mode = outputMode(globalOptions(cmd));
      const cli: CliValues = {
        deployment_profile: flags.profile,
        bit_width: flags.bits,
        group_size: flags.groupSize,
        method: flags.method,
        enable_streaming: flags.mode === undefined ? undefined : flags.mode === 'streaming',
        num_threads: flags.threads,
        modality: flags.modality,
        min_accuracy: flags.minAccuracy,
        fail_fast: flags.failFast,
        calibration: flags.calibration,
        mix: flags.mix,
        gptq_format: flags.gptqFormat,
        imatrix: flags.imatrix,
        uniform_importance: flags.uniformImportance,
        target_memory_gb: flags.targetMemoryGb,
      };
      const resolution = resolveConfig({ cli, cliFlags: FLAG_NAMES, ...(flags.config !== undefined ? { yamlPath: flags.config } : {}) });
      for (const w of resolution.warnings) log(mode, 'warning', `warning: ${w}`, {}, 'warn');
      log(mode, 'config', `configuration:\n${describeConfig(resolution)}`, { config: resolution.config }, 'debug');

      // First Ctrl-C/SIGTERM: stop at the next chunk and clean up. A second one exits at once
      // (the job's exit hook still deletes the temporary file).
      const controller = new AbortController();
      const interrupt = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort(new Error(`received ${signal}`));
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      const progress = new Progress(mode);
      const startedAt = new Date();
      try {
        // The job's modules are imported when it runs (and the cluster client only for a
        // cluster run), so that --help, --version and the other commands start quickly.
        const result = flags.coordinator
          ? await (await import('../../coordinator/cluster/client.js')).submitJob({
              coordinator: flags.coordinator,
              tls: tlsFrom(flags),
              modelPath: model,
              outputPath: flags.output,
              config: resolution.config,
              signal: controller.signal,
              onEvent: progress.onEvent,
              onReconnect: (reason, attempt) => log(mode, 'reconnect', `coordinator unreachable (${reason}); re-attaching (attempt ${attempt})`, { attempt }, 'warn'),
            })
          : await (await import('../../coordinator/run/job.js')).runQuantizeJob({
              modelPath: model,
              outputPath: flags.output,
              config: resolution.config,
              signal: controller.signal,
              onEvent: progress.onEvent,
            });
        progress.stop();
        if (flags.report || flags.reportHtml) {
          const { buildReport, writeJsonAtomic, writeTextAtomic } = await import('../../coordinator/run/report.js');
          if (flags.report) await writeJsonAtomic(flags.report, buildReport(result, resolution.config, resolution.sources, startedAt));
          if (flags.reportHtml) await writeTextAtomic(flags.reportHtml, (await import('../../coordinator/run/report-html.js')).buildHtmlReport(result, startedAt));
        }
        const native = nativeMemory();
        log(mode, 'native_memory', `native memory: peak ${formatBytes(native.peak)}; allocations of 1 MiB or more at the peak: ${native.largeAtPeak.map((b) => formatBytes(b)).join(', ') || 'none'}`, { peak: native.peak, largeAtPeak: native.largeAtPeak }, 'debug');
        if (!mode.quiet) {
          if (mode.tty) process.stdout.write(`${summaryTable(mode, result)}\n`);
          else log(mode, 'summary', 'done', { output: result.outputPath, seconds: result.seconds, mode: result.mode, ...result.summary });
        }
      } finally {
        progress.stop();
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
}
