package dev.rq.model.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.GanLossConfig;
import dev.rq.model.nn.Ops;

/**
 * The official stage-1 objective with LPIPS and the patch GAN ({@code Trainer.train} of {@code
 * rqvae/trainers/trainer_rqvae.py}), split into its two phases on one batch. Both phases need
 * autograd on ({@code JniUtils.setGradMode(true)}).
 *
 * <p>Generator phase ({@link #generator}): {@code loss_gen_total = loss_recon + β·loss_latent +
 * p_w·LPIPS(x, x̂) + g·d_w·loss_gen} with {@code loss_gen = −mean D(x̂)} (discriminator in a
 * train mode, its weights fixed), and the adaptive weight {@code g = clamp(‖∂nll/∂W‖ / (‖∂loss_gen/∂W‖
 * + 1e-4), 0, 1e4)}, {@code nll = loss_recon + p_w·LPIPS} (no commitment term), W = {@code
 * decoder.conv_out.weight}, detached. The graph is cut at x̂: the gradients at x̂ of nll and of
 * loss_gen are taken once each, their W-gradients come from a one-layer recomputation of {@code
 * conv_out}, and the RQ-VAE is back-propagated once with {@code ∂nll/∂x̂ + g·d_w·∂loss_gen/∂x̂} (the
 * same gradients as the official three autograd calls, with one pass through the VAE).
 *
 * <p>Discriminator phase ({@link #discriminator}): {@code D(sg(x̂))} and {@code D(x)} in two calls
 * (separate batch statistics), hinge {@code ½(mean relu(1 − D(x)) + mean relu(1 + D(x̂)))} or vanilla
 * {@code ½(mean softplus(−D(x)) + mean softplus(D(x̂)))}; {@code d_w·loss_disc} is back-propagated
 * into the discriminator.
 */
public final class GanObjective {

    static final float G_EPS = 1e-4f;
    static final float G_MAX = 1e4f;

    private final GanLossConfig config;
    private final String reconLossType;
    private final float beta;
    private final Lpips lpips;
    private final PatchDiscriminator disc;

    /**
     * @param reconLossType {@code mse} or {@code l1} (the RQ-VAE's {@code hparams.loss_type})
     * @param beta weight of the commitment loss ({@code hparams.latent_loss_weight})
     * @param lpips the perceptual network; null when {@code perceptual_weight} is 0
     */
    public GanObjective(GanLossConfig config, String reconLossType, double beta, Lpips lpips,
            PatchDiscriminator disc) {
        if (config.perceptualWeight() > 0 && lpips == null) {
            throw new IllegalArgumentException("gan.loss.perceptual_weight > 0 needs the LPIPS network");
        }
        this.config = config;
        this.reconLossType = reconLossType;
        this.beta = (float) beta;
        this.lpips = lpips;
        this.disc = disc;
    }

    /** @return the discriminator */
    public PatchDiscriminator discriminator() {
        return disc;
    }

    /**
     * Values of the generator phase (scalars, as logged by the official trainer).
     *
     * @param lossRecon reconstruction loss (MSE or L1 mean)
     * @param lossLatent commitment loss
     * @param lossPcpt LPIPS, batch mean (0 without perceptual term)
     * @param lossGen −mean D(x̂) (0 with the GAN part off)
     * @param nllGradNorm ‖∂nll/∂W‖ (0 with the GAN part off)
     * @param genGradNorm ‖∂loss_gen/∂W‖ (0 with the GAN part off)
     * @param gWeight adaptive weight g (0 with the GAN part off)
     * @param lossGenTotal the back-propagated loss
     */
    public record GenTerms(float lossRecon, float lossLatent, float lossPcpt, float lossGen, float nllGradNorm,
            float genGradNorm, float gWeight, float lossGenTotal) {

        /** @return the official logged {@code loss_total}: recon + β·latent + p_w·pcpt (no GAN term) */
        public float lossTotalLogged(float beta, float perceptualWeight) {
            return lossRecon + beta * lossLatent + perceptualWeight * lossPcpt;
        }
    }

    /**
     * The generator phase: back-propagates {@code loss_gen_total} into the RQ-VAE (gradients
     * accumulate in its parameters' {@code .grad}; the discriminator's are not touched).
     *
     * @param x [B, 3, R, R] the images
     * @param lastInput [B, C, R, R] input of {@code decoder.conv_out} (in the graph)
     * @param recon [B, 3, R, R] x̂ (in the graph)
     * @param lastWeight {@code decoder.conv_out.weight}
     * @param commit the commitment loss (in the graph)
     * @param useDisc the GAN part is on ({@code epoch >= disc_start})
     * @param mode BatchNorm mode of the discriminator call
     */
    public GenTerms generator(NDArray x, NDArray lastInput, NDArray recon, NDArray lastWeight, NDArray commit,
            boolean useDisc, PatchDiscriminator.Mode mode) {
        NDManager m = x.getManager();
        float pw = config.perceptualWeight().floatValue();
        NDArray r = recon.stopGradient(); // the graph is cut at x̂
        r.setRequiresGradient(true);
        NDArray lossRecon = reconLoss(r, x);
        NDArray pcpt = pw > 0 ? lpips.distance(x, r).mean() : m.zeros(new Shape());
        NDArray nll = lossRecon.add(Ops.scale(pcpt, pw));
        backward(nll, null, false);
        NDArray gNll = r.getGradient().duplicate(); // ∂nll/∂x̂
        NDArray gradAtRecon = gNll;
        float lossGen = 0;
        float nllNorm = 0;
        float genNorm = 0;
        float g = 0;
        float dw = config.discWeight().floatValue();
        if (useDisc) {
            JniUtils.zeroGrad((PtNDArray) r);
            NDArray gen = disc.forwardFrozen(r, mode).mean().neg();
            backward(gen, null, false);
            NDArray gGen = r.getGradient().duplicate(); // ∂loss_gen/∂x̂
            lossGen = gen.getFloat();
            // W-gradients of both losses: conv_out recomputed on its detached input
            NDArray w = lastWeight.stopGradient();
            w.setRequiresGradient(true);
            NDArray out = Ops.conv2d(lastInput.stopGradient(), w, m.zeros(new Shape(w.getShape().get(0))), 1, 1);
            backward(out, gNll, true);
            NDArray nllW = w.getGradient().norm();
            JniUtils.zeroGrad((PtNDArray) w);
            backward(out, gGen, false);
            NDArray genW = w.getGradient().norm();
            NDArray gw = nllW.div(genW.add(m.full(new Shape(), G_EPS))).clip(0f, G_MAX);
            nllNorm = nllW.getFloat();
            genNorm = genW.getFloat();
            g = gw.getFloat();
            gradAtRecon = gNll.add(gGen.mul(gw.mul(m.full(new Shape(), dw))));
        }
        NDArray seed = recon.mul(gradAtRecon).sum().add(Ops.scale(commit, beta));
        backward(seed, null, false);
        float rec = lossRecon.getFloat();
        float lat = commit.getFloat();
        float pc = pcpt.getFloat();
        float total = rec + beta * lat + pw * pc + g * dw * lossGen;
        return new GenTerms(rec, lat, pc, lossGen, nllNorm, genNorm, g, total);
    }

    /**
     * Values of the discriminator phase.
     *
     * @param logitsFake D(sg(x̂)) [B, 1, H', W']
     * @param logitsReal D(x) [B, 1, H', W']
     * @param hinge the hinge loss
     * @param vanilla the vanilla (softplus) loss
     * @param lossDisc the configured one (its d_w multiple was back-propagated)
     */
    public record DiscTerms(NDArray logitsFake, NDArray logitsReal, float hinge, float vanilla, float lossDisc) {}

    /**
     * The discriminator phase: back-propagates {@code d_w·loss_disc} into the discriminator
     * (gradients accumulate in its parameters' {@code .grad}).
     *
     * @param x [B, 3, R, R] real images
     * @param recon [B, 3, R, R] x̂ (detached here)
     */
    public DiscTerms discriminator(NDArray x, NDArray recon, PatchDiscriminator.Mode mode) {
        NDArray fake = disc.forward(recon.stopGradient(), mode);
        NDArray real = disc.forward(x, mode);
        NDManager m = x.getManager();
        NDArray one = m.ones(new Shape());
        NDArray hinge = Ops.scale(Activation.relu(one.sub(real)).mean().add(Activation.relu(one.add(fake)).mean()), 0.5f);
        NDArray vanilla = Ops.scale(Activation.softPlus(real.neg()).mean().add(Activation.softPlus(fake).mean()), 0.5f);
        NDArray loss = config.hinge() ? hinge : vanilla;
        backward(Ops.scale(loss, config.discWeight().floatValue()), null, false);
        return new DiscTerms(fake.stopGradient(), real.stopGradient(), hinge.getFloat(), vanilla.getFloat(),
                loss.getFloat());
    }

    private NDArray reconLoss(NDArray r, NDArray x) {
        NDArray d = r.sub(x);
        return reconLossType.equals("mse") ? d.square().mean() : d.abs().mean();
    }

    /** backward of {@code y} with upstream gradient {@code dy} (ones when null). */
    private static void backward(NDArray y, NDArray dy, boolean keepGraph) {
        PtNDArray seed = (PtNDArray) (dy == null ? y.onesLike() : dy);
        JniUtils.backward((PtNDArray) y, seed, keepGraph, false);
    }
}
