package dev.rq.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The RQ-Transformer model: exactly the official {@code RQTransformerConfig} (spec §4.1), with the
 * official (snake_case) key names, so the OmegaConf dump of an official run (the {@code arch}
 * section of its {@code config.yaml}, or a fixture's {@code *.config.json}) binds unchanged.
 *
 * <p>Supported: token embeddings from the frozen RQ-VAE codebook ({@code input_emb_vqvae} and
 * {@code head_emb_vqvae} true, {@code cumsum_depth_ctx} true), as in every released config;
 * a shared or per-depth ({@code BatchLinear}) classifier; text/class condition of any length.
 *
 * @param type always {@code rq-transformer}
 * @param ema weight-EMA decay of the official trainer: must be null (weight EMA is not implemented);
 *     {@link #readOfficial} drops it from an official file, which is imported for its weights
 * @param arHierarchy unused by the official model; must be null
 * @param vocabSize codebook size K, one value or one per depth
 * @param blockSize [H, W, Dd] of the code stack
 * @param vocabSizeCond number of classes (0 or 1: unconditional, a learned start token)
 * @param blockSizeCond condition tokens Lc (0 → 1)
 * @param embedDim transformer width D
 * @param inputEmbedDim RQ-VAE codebook dimension (input of {@code input_mlp}/{@code head_mlp})
 * @param usePaddingEmb unused by the official code
 * @param inputEmbVqvae spatial inputs from RQ-VAE code embeddings (must be true)
 * @param headEmbVqvae depth inputs from RQ-VAE code embeddings (must be true)
 * @param scaledHeadEmbVqvae unused by the official code
 * @param cumsumDepthCtx depth inputs from cumulative sums of code embeddings (must be true)
 * @param sharedTokEmb irrelevant without a token table; accepted
 * @param embdPdrop dropout on the spatial-stack input
 * @param body the spatial transformer
 * @param head the depth transformer
 * @param sharedClsEmb one classifier for all depths (false: per-depth {@code BatchLinear})
 * @param posEmbHwInit initial {@code pos_emb_hw}: {@code normal} (the official N(0, 0.02), the
 *     default) or {@code sincos_2d} (not in the official code: a fixed 2-D sine-cosine table, row
 *     in the first D/2 channels and column in the last, that training then adjusts; for small data,
 *     where the learned table of the official init has not yet found which positions are vertical
 *     neighbours). Only the initial values differ: the tensor, its key and the checkpoints are official.
 * @param condDropProb classifier-free guidance: probability of training with the null class (0: none, official)
 * @param posRope2d 2-D rotary position encoding of the spatial stack's queries and keys (not in the
 *     official model; default false): rotated by the row and column of the code each token embeds, as
 *     in LlamaGen / ViT-RoPE, on top of the learned {@code pos_emb_hw}. No weights, so the keys, shapes
 *     and checkpoints stay official; needs a body head dimension divisible by 4
 */
public record TransformerConfig(
        String type,
        Double ema,
        Object arHierarchy,
        List<Integer> vocabSize,
        List<Integer> blockSize,
        Integer vocabSizeCond,
        Integer blockSizeCond,
        Integer embedDim,
        Integer inputEmbedDim,
        Boolean usePaddingEmb,
        Boolean inputEmbVqvae,
        Boolean headEmbVqvae,
        Boolean scaledHeadEmbVqvae,
        Boolean cumsumDepthCtx,
        Boolean sharedTokEmb,
        Double embdPdrop,
        Stack body,
        Stack head,
        Boolean sharedClsEmb,
        String posEmbHwInit,
        Double condDropProb,
        Boolean posRope2d) implements Serializable {

    private static final String P = "model.";

    /** {@link #posEmbHwInit} value of the official initialisation. */
    public static final String POS_INIT_NORMAL = "normal";

    /** {@link #posEmbHwInit} value of the 2-D sine-cosine initialisation. */
    public static final String POS_INIT_SINCOS_2D = "sincos_2d";

    /**
     * One attention stack (official {@code AttentionStackConfig}).
     *
     * @param nLayer number of blocks (the depth stack may have 0: identity)
     * @param block the block shape
     */
    public record Stack(Integer nLayer, Block block) implements Serializable {}

    /**
     * One pre-LN GPT block (official {@code AttentionBlockConfig}).
     *
     * @param embedDim width (must equal the model's)
     * @param nHead attention heads
     * @param mlpBias biases in the MLP Linear layers
     * @param attnBias biases in the key/query/value/proj Linear layers
     * @param attnPdrop dropout on attention weights
     * @param residPdrop dropout on both residual branches
     * @param gelu {@code v1} exact erf GELU, {@code v2} x·σ(1.702x)
     */
    public record Block(Integer embedDim, Integer nHead, Boolean mlpBias, Boolean attnBias, Double attnPdrop,
            Double residPdrop, String gelu) implements Serializable {

        public Block {
            mlpBias = mlpBias == null || mlpBias;
            attnBias = attnBias == null || attnBias;
            attnPdrop = attnPdrop == null ? 0.0 : attnPdrop;
            residPdrop = residPdrop == null ? 0.1 : residPdrop;
            gelu = gelu == null ? "v1" : gelu;
        }
    }

    public TransformerConfig {
        type = type == null ? "rq-transformer" : type;
        ConfigException.require(type.equals("rq-transformer"), P + "type", "must be rq-transformer, got %s", type);
        ConfigException.require(arHierarchy == null, P + "ar_hierarchy", "is not supported (must be null)");
        ConfigException.require(ema == null, P + "ema", "the official trainer's weight EMA is not implemented:"
                + " remove the key (or set it to null), got %s", ema);
        ConfigException.required(vocabSize, P + "vocab_size");
        ConfigException.required(blockSize, P + "block_size");
        ConfigException.required(embedDim, P + "embed_dim");
        ConfigException.required(inputEmbedDim, P + "input_embed_dim");
        ConfigException.required(body, P + "body");
        ConfigException.required(head, P + "head");
        blockSize = List.copyOf(blockSize);
        ConfigException.require(blockSize.size() == 3, P + "block_size", "must be [H, W, depth], got %s", blockSize);
        for (int s : blockSize) {
            ConfigException.require(s > 0, P + "block_size", "entries must be positive, got %s", blockSize);
        }
        int depth = blockSize.get(2);
        vocabSize = List.copyOf(vocabSize);
        ConfigException.require(vocabSize.size() == 1 || vocabSize.size() == depth, P + "vocab_size",
                "must be one value or one per depth (%s), got %s", depth, vocabSize);
        if (vocabSize.size() == 1 && depth > 1) {
            List<Integer> v = new ArrayList<>();
            for (int d = 0; d < depth; d++) {
                v.add(vocabSize.get(0));
            }
            vocabSize = List.copyOf(v);
        }
        for (int k : vocabSize) {
            ConfigException.require(k > 0, P + "vocab_size", "must be positive, got %s", vocabSize);
        }
        vocabSizeCond = vocabSizeCond == null ? 0 : vocabSizeCond;
        blockSizeCond = blockSizeCond == null ? 0 : blockSizeCond;
        ConfigException.require(vocabSizeCond >= 0, P + "vocab_size_cond", "must be >= 0, got %s", vocabSizeCond);
        ConfigException.require(blockSizeCond >= 0, P + "block_size_cond", "must be >= 0, got %s", blockSizeCond);
        ConfigException.require(embedDim > 0, P + "embed_dim", "must be positive, got %s", embedDim);
        ConfigException.require(inputEmbedDim > 0, P + "input_embed_dim", "must be positive, got %s", inputEmbedDim);
        usePaddingEmb = usePaddingEmb != null && usePaddingEmb;
        inputEmbVqvae = inputEmbVqvae == null || inputEmbVqvae;
        headEmbVqvae = headEmbVqvae == null || headEmbVqvae;
        scaledHeadEmbVqvae = scaledHeadEmbVqvae != null && scaledHeadEmbVqvae;
        cumsumDepthCtx = cumsumDepthCtx == null || cumsumDepthCtx;
        sharedTokEmb = sharedTokEmb == null || sharedTokEmb;
        sharedClsEmb = sharedClsEmb == null || sharedClsEmb;
        embdPdrop = embdPdrop == null ? 0.0 : embdPdrop;
        posEmbHwInit = posEmbHwInit == null ? POS_INIT_NORMAL : posEmbHwInit;
        ConfigException.require(posEmbHwInit.equals(POS_INIT_NORMAL) || posEmbHwInit.equals(POS_INIT_SINCOS_2D),
                P + "pos_emb_hw_init", "must be normal (official) or sincos_2d, got %s", posEmbHwInit);
        ConfigException.require(posEmbHwInit.equals(POS_INIT_NORMAL) || embedDim % 4 == 0, P + "pos_emb_hw_init",
                "sincos_2d needs an embed_dim divisible by 4, got %s", embedDim);
        ConfigException.require(inputEmbVqvae, P + "input_emb_vqvae",
                "only true is supported (spatial inputs from the RQ-VAE code embeddings, as every released config)");
        ConfigException.require(headEmbVqvae, P + "head_emb_vqvae",
                "only true is supported (depth inputs from the RQ-VAE code embeddings, as every released config)");
        ConfigException.require(cumsumDepthCtx, P + "cumsum_depth_ctx",
                "only true is supported (depth inputs from cumulative code embeddings, as every released config)");
        ConfigException.require(embdPdrop >= 0 && embdPdrop < 1, P + "embd_pdrop", "must be in [0, 1), got %s",
                embdPdrop);
        condDropProb = condDropProb == null ? 0.0 : condDropProb;
        ConfigException.require(condDropProb >= 0 && condDropProb < 1, P + "cond_drop_prob",
                "must be in [0, 1), got %s", condDropProb);
        ConfigException.require(condDropProb == 0 || (vocabSizeCond >= 1 && blockSizeCond <= 1), P + "cond_drop_prob",
                "classifier-free guidance needs a class condition (vocab_size_cond >= 1, block_size_cond <= 1),"
                        + " got vocab_size_cond %s, block_size_cond %s", vocabSizeCond, blockSizeCond);
        checkStack(body, "body", embedDim, false);
        checkStack(head, "head", embedDim, true);
        posRope2d = posRope2d != null && posRope2d;
        ConfigException.require(!posRope2d || (embedDim / body.block().nHead()) % 4 == 0, P + "pos_rope2d",
                "needs a spatial head dimension (embed_dim / body.block.n_head) divisible by 4, got %s",
                embedDim / body.block().nHead());
    }

    private static void checkStack(Stack s, String name, int d, boolean mayBeEmpty) {
        String p = P + name + ".";
        ConfigException.required(s.nLayer(), p + "n_layer");
        ConfigException.require(s.nLayer() > 0 || (mayBeEmpty && s.nLayer() == 0), p + "n_layer",
                "must be %s, got %s", mayBeEmpty ? ">= 0" : "positive", s.nLayer());
        Block b = s.block();
        ConfigException.required(b, p + "block");
        String bp = p + "block.";
        int bd = b.embedDim() == null ? d : b.embedDim();
        ConfigException.require(bd == d, bp + "embed_dim", "must equal model.embed_dim %s, got %s", d, bd);
        ConfigException.required(b.nHead(), bp + "n_head");
        ConfigException.require(b.nHead() > 0 && d % b.nHead() == 0, bp + "n_head",
                "must be positive and divide embed_dim %s, got %s", d, b.nHead());
        ConfigException.require(b.attnPdrop() >= 0 && b.attnPdrop() < 1, bp + "attn_pdrop",
                "must be in [0, 1), got %s", b.attnPdrop());
        ConfigException.require(b.residPdrop() >= 0 && b.residPdrop() < 1, bp + "resid_pdrop",
                "must be in [0, 1), got %s", b.residPdrop());
        ConfigException.require(b.gelu().equals("v1") || b.gelu().equals("v2"), bp + "gelu",
                "must be v1 (exact erf) or v2 (sigmoid approximation), got %s", b.gelu());
    }

    /** @return H */
    public int height() {
        return blockSize.get(0);
    }

    /** @return W */
    public int width() {
        return blockSize.get(1);
    }

    /** @return code depth Dd */
    public int depth() {
        return blockSize.get(2);
    }

    /** @return spatial positions T = H·W */
    public int positions() {
        return height() * width();
    }

    /** @return the vocabulary of depth {@code d} */
    public int vocab(int d) {
        return vocabSize.get(d);
    }

    /** @return the largest vocabulary (classifier width) */
    public int maxVocab() {
        return vocabSize.stream().mapToInt(Integer::intValue).max().orElseThrow();
    }

    /** @return rows of {@code cond_emb}: max(vocab_size_cond, 1) */
    public int condVocab() {
        return Math.max(vocabSizeCond, 1);
    }

    /** @return whether the model was trained with a null class for classifier-free guidance */
    public boolean hasNullClass() {
        return condDropProb > 0;
    }

    /** @return the null class (the last row of {@code cond_emb}); only with {@link #hasNullClass()} */
    public int nullClass() {
        if (!hasNullClass()) {
            throw new IllegalStateException("model.cond_drop_prob is 0: the model has no null class");
        }
        return condVocab();
    }

    /** @return rows of {@code cond_emb}: {@link #condVocab()}, plus the null class when {@link #hasNullClass()} */
    public int condEmbRows() {
        return condVocab() + (hasNullClass() ? 1 : 0);
    }

    /** @return condition tokens Lc: max(block_size_cond, 1) */
    public int condLength() {
        return Math.max(blockSizeCond, 1);
    }

    /** @return head dimension of the spatial stack */
    public int bodyHeadDim() {
        return embedDim / body.block().nHead();
    }

    /**
     * Checks that {@code vae} can be this model's code-embedding source: code shape, codebook size
     * and dimension.
     *
     * @throws ConfigException naming the transformer key that disagrees
     */
    public void checkCompatible(VaeConfig vae) {
        var h = vae.hparams();
        ConfigException.require(h.codeShape().equals(blockSize), P + "block_size",
                "must equal the RQ-VAE's code_shape %s, got %s", h.codeShape(), blockSize);
        ConfigException.require(h.embedDim().intValue() == inputEmbedDim.intValue(), P + "input_embed_dim",
                "must equal the RQ-VAE's embed_dim %s, got %s", h.embedDim(), inputEmbedDim);
        for (int d = 0; d < depth(); d++) {
            ConfigException.require(h.codebookSize(d) == vocab(d), P + "vocab_size",
                    "must equal the RQ-VAE's n_embed %s (depth %s), got %s", h.nEmbed(), d, vocabSize);
        }
    }

    /**
     * Reads an official-format RQ-Transformer config: the OmegaConf dump of {@code
     * RQTransformerConfig}, optionally nested under {@code arch} or {@code model} (a whole
     * official {@code config.yaml}). Its {@code ema} (the official trainer's weight EMA, not
     * implemented here) is dropped: the imported weights are the model's.
     */
    public static TransformerConfig readOfficial(JsonNode tree) {
        JsonNode n = tree;
        if (n.has("arch")) {
            n = n.get("arch");
        } else if (n.has("model") && n.get("model").has("body")) {
            n = n.get("model");
        }
        if (n.isObject() && n.has("ema")) {
            n = n.deepCopy();
            ((com.fasterxml.jackson.databind.node.ObjectNode) n).remove("ema"); // a trainer setting, not the model
        }
        return Configs.bind(n, TransformerConfig.class, "model");
    }
}
