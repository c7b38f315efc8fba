package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The decode stage's result: the reconstructions of the evaluation split, measured.
 *
 * @param json the content of {@code eval/eval.json} (what was measured, summaries, every image's PSNR)
 * @param psnr the PSNR summary over the decoded images (dB)
 */
record Evaluation(JsonNode json, ReconstructionStats.Summary psnr) {

    /** @return the evaluation of an {@code eval.json} written earlier */
    static Evaluation of(JsonNode json) {
        JsonNode p = json.path("psnr");
        return new Evaluation(json, new ReconstructionStats.Summary(p.path("n").asInt(), p.path("mean").asDouble(),
                p.path("median").asDouble(), p.path("min").asDouble(), p.path("max").asDouble()));
    }
}
