// The condition openings of the networks: cross-attention to a text context (padding masked out,
// identity at init), extra condition image channels, a pooled text vector, and nullCond (the
// null class or the empty prompt, with w and image channels kept).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, Generator, ShapeError, ones, rand, randint, randn, tidy, type Tensor } from "../../src/engine/index.js";
import { noiseLevel } from "../../src/diffusion/parameterization.js";
import { catCond } from "../../src/nn/condition.js";
import { MlpDenoiser } from "../../src/nn/mlp-denoiser.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";

const small = { channels: 1, size: 8, numClasses: 3, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0 };

/** Every parameter moved off its init (zero layers included), so each path is exercised. */
function perturb(net: { store: ParamStore }, seed: number): void {
  const g = new Generator(seed);
  const moved = new Map([...net.store.named()].map(([name, p]) => [name, p.add(randn(p.shape, g).mul(0.1))]));
  net.store.load(moved);
}

const maxDiff = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();

test("cross-attention: identity at init, then the output depends on the context but not on its padded tokens", () =>
  tidy(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), { ...small, contextDim: 5 });
    const names = [...net.store.named().keys()];
    assert.ok(names.some((k) => /^mid\.1\.cross\.to_k\.weight$/.test(k)), `cross-attention parameters: ${names.filter((k) => k.includes("cross")).join(", ")}`);
    const g = new Generator(1);
    const z = randn([2, 1, 8, 8], g);
    const u = noiseLevel(rand([2], g));
    const labels = randint(0, 3, [2], g);
    const mask = ones([2, 4]); // every token real
    const contextA = randn([2, 4, 5], g);
    const contextB = randn([2, 4, 5], g);
    const out = (context: Tensor, contextMask?: Tensor) => net.forwardRaw(z, u, { labels, context, contextMask });
    // to_out starts at zero: the context path adds nothing until trained
    assert.equal(maxDiff(out(contextA), out(contextB)), 0);
    perturb(net, 2);
    assert.ok(maxDiff(out(contextA), out(contextB)) > 1e-3, "a trained cross-attention reads the context");
    // tokens 2 and 3 are padding: changing them changes nothing
    const padded = tidy(() => {
      const m = ones([2, 4]);
      m.narrow(1, 2, 2).zero_();
      return m;
    });
    const changedPadding = tidy(() => {
      const c = contextA.clone();
      c.narrow(1, 2, 2).copy_(contextB.narrow(1, 2, 2));
      return c;
    });
    assert.ok(maxDiff(out(contextA, padded), out(changedPadding, padded)) < 1e-6);
    assert.ok(maxDiff(out(contextA, mask), out(changedPadding, mask)) > 1e-4, "without the mask the same change shows");
    assert.throws(() => net.forwardRaw(z, u, { labels }), (e: Error) => e instanceof ShapeError && /cond\.context \[2, L, 5\]/.test(e.message));
    net.dispose();
  }));

test("condition image channels are read, and a wrong shape names the expected one", () =>
  tidy(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), { ...small, condChannels: 2 });
    perturb(net, 3);
    const g = new Generator(4);
    const z = randn([2, 1, 8, 8], g);
    const u = noiseLevel(rand([2], g));
    const labels = randint(0, 3, [2], g);
    const a = net.forwardRaw(z, u, { labels, image: randn([2, 2, 8, 8], g) });
    const b = net.forwardRaw(z, u, { labels, image: randn([2, 2, 8, 8], g) });
    assert.ok(maxDiff(a, b) > 1e-3);
    assert.throws(() => net.forwardRaw(z, u, { labels, image: randn([2, 1, 8, 8], g) }), (e: Error) => e instanceof ShapeError && /cond\.image \[2, 2, 8, 8\]/.test(e.message));
    net.dispose();
  }));

test("a pooled text vector enters the MLP's condition embedding", () =>
  tidy(() => {
    const net = new MlpDenoiser(new ParamStore({ seed: 0 }), { dim: 3, numClasses: 2, hidden: 16, depth: 1, pooledDim: 6 });
    assert.ok(net.named().has("pooled_embed.weight"));
    const g = new Generator(5);
    const z = randn([4, 3], g);
    const u = noiseLevel(rand([4], g));
    const labels = randint(0, 2, [4], g);
    assert.ok(maxDiff(net.forwardRaw(z, u, { labels, pooled: randn([4, 6], g) }), net.forwardRaw(z, u, { labels, pooled: randn([4, 6], g) })) > 1e-4);
    assert.throws(() => net.forwardRaw(z, u, { labels }), /pass cond\.pooled \[4, 6\]/);
    net.dispose();
  }));

test("nullCond: the null class, the empty prompt's encoding per row, and w and image parts kept as they are", () =>
  tidy(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), { ...small, contextDim: 5, condChannels: 1, wInput: true });
    const g = new Generator(6);
    const cond = { labels: randint(0, 3, [3], g), w: rand([3], g), image: randn([3, 1, 8, 8], g), context: randn([3, 4, 5], g), contextMask: ones([3, 4]) };
    assert.throws(() => net.nullCond(cond), (e: Error) => e instanceof ConfigError && /setNullText/.test(e.message));
    const empty = randn([1, 4, 5], g);
    net.setNullText({ context: empty, contextMask: tidy(() => ones([1, 4]).mul(0)) });
    const nulled = net.nullCond(cond);
    assert.deepEqual(nulled.labels!.toNumbers(), [3, 3, 3]);
    assert.equal(nulled.w, cond.w);
    assert.equal(nulled.image, cond.image);
    assert.deepEqual(nulled.context!.shape, [3, 4, 5]);
    for (let i = 0; i < 3; i++) assert.equal(maxDiff(nulled.context!.narrow(0, i, 1), empty), 0);
    assert.deepEqual(nulled.contextMask!.toNumbers(), new Array(12).fill(0));
    // guidance's batch of both branches: every part, 2n rows
    const both = catCond(cond, nulled);
    assert.deepEqual(both.image!.shape, [6, 1, 8, 8]);
    assert.deepEqual(both.labels!.toNumbers().slice(3), [3, 3, 3]);
    assert.throws(() => catCond(cond, { labels: cond.labels }), /cond\.context is in one record but not the other/);
    net.dispose();
  }));
