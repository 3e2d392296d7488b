// The U-Net denoiser: shapes, the zero-initialised output (x-hat = alpha z for v-prediction at
// init), a w path that leaves the teacher's output unchanged, gradients to every parameter, and
// clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, Generator, ShapeError, full, rand, randint, randn, tidy } from "../../src/engine/index.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { alphaSigma } from "../../src/diffusion/schedule.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet, resolveUNetConfig } from "../../src/nn/unet.js";
import { assertClose } from "../helpers/assert-close.js";

const small = { channels: 1, size: 8, numClasses: 3, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attentionResolutions: [4] };

test("output shape, and at init the v-prediction net gives x-hat = alpha_t z (its last conv starts at zero)", () =>
  tidy(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), small);
    const g = new Generator(1);
    const z = randn([2, 1, 8, 8], g);
    const t = tidy(() => full([2], 0.3));
    const x = denoiserOf(net).denoiser(z, t, { labels: randint(0, 4, [2], g) });
    assert.deepEqual(x.shape, [2, 1, 8, 8]);
    assertClose(x.toNumbers(), z.toNumbers().map((v) => alphaSigma(0.3).alpha * v), { atol: 1e-6 });
    assert.ok([...net.store.named().keys()].some((k) => k.startsWith("mid.1.qkv")), "attention in the middle");
    assert.ok([...net.store.named().keys()].some((k) => /^down\.\d+\.qkv/.test(k)), "attention at resolution 4");
    net.dispose();
  }));

test("a w path added to the same weights leaves x-hat unchanged for every w", () =>
  tidy(() => {
    const teacher = new UNet(new ParamStore({ seed: 0 }), small);
    const student = new UNet(new ParamStore({ seed: 0 }), { ...small, wInput: true });
    // give both the same non-zero output layer, so the comparison is not trivially 0 = 0
    const g = new Generator(2);
    const perturbed = new Map([...teacher.store.named()].map(([name, p]) => [name, p.add(randn(p.shape, g).mul(0.05))]));
    teacher.store.load(perturbed);
    student.store.load(perturbed, { strict: false });
    const z = randn([3, 1, 8, 8], g);
    const t = rand([3], g);
    const labels = randint(0, 4, [3], g);
    const expected = denoiserOf(teacher).denoiser(z, t, { labels }).toNumbers();
    assert.ok(expected.some((v, i) => Math.abs(v - z.toNumbers()[i]) > 1e-3));
    for (const w of [0, 1.5, 4]) assert.deepEqual(denoiserOf(student).denoiser(z, t, { labels, w: full([3], w) }).toNumbers(), expected);
    assert.throws(() => denoiserOf(student).denoiser(z, t, { labels }), /takes the guidance weight/);
    teacher.dispose();
    student.dispose();
  }));

test("every parameter gets a gradient; dropout needs a generator; bad shapes are named", () =>
  tidy(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), small);
    const g = new Generator(3);
    const z = randn([2, 1, 8, 8], g);
    const t = rand([2], g);
    const labels = randint(0, 4, [2], g);
    net.training = true;
    assert.throws(() => denoiserOf(net).denoiser(z, t, { labels }), ConfigError);
    net.dropoutGenerator = new Generator(4);
    denoiserOf(net).denoiser(z, t, { labels }).square().mean().backward();
    assert.equal(net.parameters().filter((p) => p.grad === null).length, 0);
    assert.throws(() => denoiserOf(net).denoiser(randn([2, 1, 16, 16], g), t, { labels }), (e: unknown) => e instanceof ShapeError && /z has shape \[2,1,16,16\] but the model needs \[n, 1, 8, 8\]/.test(e.message));
    assert.throws(() => new UNet(new ParamStore(), { ...small, size: 6, channelMults: [1, 2, 2] }), /size 6 must be a multiple of 2\^2/);
    net.dispose();
  }));

test("an attention resolution the net never has is refused, naming the resolutions it has", () => {
  // size 8 with 2 levels: resolutions 8 and 4
  assert.throws(() => new UNet(new ParamStore(), { ...small, attentionResolutions: [4, 2] }), (e: unknown) => e instanceof ConfigError && /attentionResolutions \[2\] not in this net: size 8 with 2 levels has resolutions 8, 4/.test(e.message));
  // the default ([8]) keeps its old meaning: attention at 8 x 8 where the net has that level, none on a 28-pixel net
  assert.deepEqual(resolveUNetConfig({ channels: 1, size: 28, numClasses: 10 }).attentionResolutions, []);
  assert.deepEqual(resolveUNetConfig({ channels: 1, size: 32, numClasses: 10 }).attentionResolutions, [8]);
  // the shipped Fashion-MNIST config, and no attention at all, are fine
  assert.deepEqual(resolveUNetConfig({ channels: 1, size: 28, numClasses: 10, channelMults: [1, 2, 2], attentionResolutions: [7] }).attentionResolutions, [7]);
  assert.deepEqual(resolveUNetConfig({ ...small, attentionResolutions: [] }).attentionResolutions, []);
});

test("a checkpoint config from before the attention check loads: resolutions the net never had are dropped", async () => {
  const { modelMetadataFromCheckpoint } = await import("../../src/io/load-model.js");
  const meta = modelMetadataFromCheckpoint("old.safetensors", { model: { kind: "unet", config: { channels: 1, size: 28, numClasses: 10, attentionResolutions: [8, 7] } } });
  assert.equal(meta.kind, "unet");
  assert.deepEqual((meta.config as { attentionResolutions: number[] }).attentionResolutions, [7]);
});
