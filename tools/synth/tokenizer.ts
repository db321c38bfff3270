/**
 * A small byte-level BPE tokenizer for the LLM presets, as Hugging Face's `tokenizers` writes
 * tokenizer.json, with the pre-tokenizer of the real model's family (Qwen2's Split regex for
 * Dream, Llama-3's for LLaDA) so that llama.cpp recognises it ("qwen2" / "llama-bpe"). The
 * merges are learned deterministically from a fixed text (most frequent pair first, ties by the
 * pair's text); the vocabulary is filled up to the first special id with unused tokens
 * (`<|unusedN|>`) and gaps between special ids with reserved special tokens, because tokenizers
 * numbers added tokens right after the vocabulary whatever ids the file gives them. Ids after the
 * last special token have no token (llama.cpp's converter writes them as [PADn]). Loadable by transformers' AutoTokenizer
 * (with tokenizer_config.json) and by llama.cpp once exported.
 */

/** GPT-2's byte → printable character map (`bytes_to_unicode`), in its order. */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const map: string[] = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i]!)));
  return map;
}

export const SPLIT_REGEX = {
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
} as const;
export type Family = keyof typeof SPLIT_REGEX;

/** The same split in JavaScript's syntax (no inline `(?i:)`), for training. */
const jsSplit = (f: Family) => new RegExp(SPLIT_REGEX[f].replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"), 'gu');

const TEXT =
  'The quick brown fox jumps over the lazy dog. Diffusion language models unmask many tokens in parallel, ' +
  'step after step, until the whole answer is written. ArrowQuant writes one Parquet file and exports GGUF for llama.cpp. ' +
  "Hello world! It's a small model: we've kept the weights random, so the text it writes means nothing. " +
  'Where is the nearest train station? The river runs under the old bridge near the city. 0123456789 ' +
  'A lighthouse stands on the rocky coast; its light turns every night. Bees fly between the flowers in the warm morning. ' +
  'Please tell me why water boils at a lower temperature high in the mountains, because the air pressure is lower there.';

/** Merges learned from TEXT, at most `count`. */
function learnMerges(family: Family, count: number): [string, string][] {
  const chars = byteChars();
  const words = new Map<string, number>();
  for (const m of TEXT.repeat(4).matchAll(jsSplit(family))) {
    const w = [...Buffer.from(m[0], 'utf8')].map((b) => chars[b]!).join('\u0000');
    words.set(w, (words.get(w) ?? 0) + 1);
  }
  let seqs = [...words.entries()].map(([w, n]) => ({ parts: w.split('\u0000'), n }));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of seqs) for (let i = 0; i + 1 < parts.length; i++) pairs.set(`${parts[i]}\u0000${parts[i + 1]}`, (pairs.get(`${parts[i]}\u0000${parts[i + 1]}`) ?? 0) + n);
    const best = [...pairs.entries()].filter(([, n]) => n >= 2).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!best) break;
    const [a, b] = best[0].split('\u0000') as [string, string];
    merges.push([a, b]);
    seqs = seqs.map(({ parts, n }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(parts[i]!);
      }
      return { parts: out, n };
    });
  }
  return merges;
}

export interface TokenizerSpec {
  family: Family;
  /** Special tokens and their ids (above the learned vocabulary). */
  specials: readonly [content: string, id: number][];
  /** A TemplateProcessing post-processor that prepends this token (else ByteLevel's). */
  prependBos?: string;
}

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };

/** tokenizer.json for `spec`: 256 byte tokens, learned merges up to the first special id. */
export function tokenizerJson(spec: TokenizerSpec): Record<string, unknown> {
  const firstSpecial = Math.min(...spec.specials.map(([, id]) => id));
  const merges = learnMerges(spec.family, Math.max(0, Math.min(400, firstSpecial - 256)));
  const vocab = new Map<string, number>();
  byteChars().forEach((c) => vocab.set(c, vocab.size));
  for (const [a, b] of merges) if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
  while (vocab.size < firstSpecial) vocab.set(`<|unused${vocab.size}|>`, vocab.size);
  const specials = [...spec.specials].sort((a, b) => a[1] - b[1]);
  const added: [string, number][] = [];
  for (const [content, tid] of specials) {
    for (let r = (added[added.length - 1]?.[1] ?? firstSpecial - 1) + 1; r < tid; r++) added.push([`<|reserved_special_${r}|>`, r]);
    added.push([content, tid]);
  }
  const id = (content: string) => spec.specials.find(([c]) => c === content)![1];
  const postProcessor = spec.prependBos
    ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: spec.prependBos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: spec.prependBos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { [spec.prependBos]: { id: spec.prependBos, ids: [id(spec.prependBos)], tokens: [spec.prependBos] } },
      }
    : byteLevel;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added.map(([content, tid]) => ({ id: tid, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: spec.family === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: SPLIT_REGEX[spec.family] }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: postProcessor,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
