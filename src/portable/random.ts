// A seeded standard-normal generator in plain TypeScript, so a seed gives the same noise in Node
// and in the browser without libtorch. (It does not reproduce libtorch's randn: the torch runtime
// and the portable runtime give different samples for one seed; feed --noise to compare them.)
//   uniforms: xoshiro128** (Blackman & Vigna 2018), 32-bit state words, seeded by splitmix32
//             from (seed, stream); two outputs make one float64 uniform with 53 random bits
//   normals:  Box-Muller in float64 (both the cosine and the sine value are used), then float32
// Integer steps are exact in every JavaScript engine; Math.log/cos/sin are not bit-specified by
// the language, but Node and Chromium share V8's fdlibm port, so the float32 results agree there.

/** Anything that fills an array with independent standard normals (samplers take this). */
export interface NoiseSource {
  fill(out: Float32Array): void;
}

const TWO_PI = 2 * Math.PI;

export class NormalRng implements NoiseSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined;

  /**
   * @param seed a non-negative integer below 2^32
   * @param stream independent sequence for the same seed (the samplers use 0 for the initial noise
   *   z_1 and 1 for the noise a stochastic sampler adds). @default 0
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) throw new RangeError(`stream must be an integer in [0, 2^32), got ${stream}`);
    // splitmix32 over seed, then stream: four well-mixed, not-all-zero state words
    let x = (seed ^ Math.imul(stream, 0x9e3779b9) ^ 0x5bd1e995) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float64 uniform in (0, 1]: 53 random bits, never 0 (Box-Muller takes its log). */
  nextUniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 1) / 9007199254740992;
  }

  /** One standard normal (float64). */
  nextNormal(): number {
    if (this.spare !== undefined) {
      const value = this.spare;
      this.spare = undefined;
      return value;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextUniform()));
    const theta = TWO_PI * this.nextUniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  fill(out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.nextNormal();
  }

  /** A new array of `count` standard normals. */
  normals(count: number): Float32Array {
    const out = new Float32Array(count);
    this.fill(out);
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
