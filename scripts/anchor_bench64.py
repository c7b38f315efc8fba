"""The bench64 models of shared/anchor/anchor_bench.py, built from the official code, for the scripts/anchor_*.py
measurements (one definition, imported by each script from this folder):

    import anchor_bench64
    torch = anchor_bench64.start(OFFICIAL_REPO_DIR, THREADS)  # the official code importable, threads, seed 0
    vae = anchor_bench64.vae()                                # RQVAE, 8x8x4 codes, in train mode
    tr = anchor_bench64.transformer()                         # RQ-Transformer (body 4, head 2 layers), train mode

Build them in the order the script always used (the VAE, its input, then the transformer): the random
initialisation follows torch's seeded generator.
"""
import sys

B = 16  # batch of every bench64 measurement


def start(repo, threads):
    """@return torch, after putting the official code first on sys.path (with its optional shim)."""
    sys.path.insert(0, repo)
    try:
        import _torchshim  # noqa: F401
    except ImportError:
        pass
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return torch


def vae():
    from rqvae.models.rqvae.rqvae import RQVAE
    dd = dict(double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=64, ch_mult=[1, 1, 2, 2],
              num_res_blocks=2, attn_resolutions=[8], dropout=0.0)
    return RQVAE(ddconfig=dd, embed_dim=64, n_embed=1024, decay=0.99, loss_type="mse", latent_loss_weight=0.25,
                 bottleneck_type="rq", latent_shape=[8, 8, 64], code_shape=[8, 8, 4], shared_codebook=True,
                 restart_unused_codes=True)


def transformer():
    from omegaconf import OmegaConf
    from rqvae.models.rqtransformer import get_rqtransformer
    from rqvae.models.rqtransformer.configs import RQTransformerConfig
    cfg = RQTransformerConfig.create(OmegaConf.create(dict(type="rq-transformer", vocab_size=1024,
        block_size=[8, 8, 4], embed_dim=256, input_embed_dim=64, shared_tok_emb=True, shared_cls_emb=True,
        input_emb_vqvae=True, head_emb_vqvae=True, cumsum_depth_ctx=True, vocab_size_cond=10, block_size_cond=1,
        body=dict(n_layer=4, block=dict(n_head=8)), head=dict(n_layer=2, block=dict(n_head=8)))))
    return get_rqtransformer(cfg)
