package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code report.html} of training runs: {@link #assertFinishedReport} is called by the training
 * job tests on their real runs; the test here checks a report of a run in progress.
 */
class RunReportTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LINK = Pattern.compile("(?:src|href)=\"([^\"]+)\"");

    /**
     * Checks the report of a finished run: status, checkpoints, config, its kind's sections, and
     * that every image and link it references exists (images readable).
     */
    static void assertFinishedReport(Path run, String kind, long steps) throws Exception {
        Path report = run.resolve(RunReport.FILE);
        assertThat(report).exists();
        String html = Files.readString(report);
        assertThat(html).contains("finished at step " + steps).contains("Checkpoints")
                .contains("checkpoints/" + RunDirectory.name(steps)).contains("Configuration")
                .contains("config hash " + JSON.readTree(run.resolve("run.json").toFile()).path("config_hash").asText())
                .contains("plots/loss.png").contains("images/s");
        if (kind.equals("rqvae")) {
            assertThat(html).contains("Codebook usage").contains("plots/codebook.png")
                    .contains("plots/recon-" + RunDirectory.name(steps) + ".png");
        } else {
            assertThat(html).contains("Held-out bits per code")
                    .contains("plots/samples-" + RunDirectory.name(steps) + ".png");
        }
        Matcher m = LINK.matcher(html);
        int links = 0;
        while (m.find()) {
            Path target = run.resolve(m.group(1));
            assertThat(target).as(m.group(1)).exists();
            if (m.group(1).endsWith(".png")) {
                BufferedImage img = ImageIO.read(target.toFile());
                assertThat(img).as(m.group(1)).isNotNull();
                assertThat(img.getWidth()).as(m.group(1)).isGreaterThan(100);
            }
            links++;
        }
        assertThat(links).isGreaterThanOrEqualTo(2); // loss curve + grid at least
    }

    @Test
    void aRunInProgressShowsItsStatusTimingsAndNewestGrid(@TempDir Path tmp) throws Exception {
        RunDirectory run = new RunDirectory(tmp.toString(), new Configuration());
        run.claim("rqvae", "abc123def4567890", JSON.readTree("{\"train\":{\"lr\":0.001}}"));
        Files.createDirectories(tmp.resolve("checkpoints/step-00000010"));
        Files.writeString(tmp.resolve("checkpoints/step-00000010/manifest.json"), "{}");
        Files.createDirectories(tmp.resolve("plots"));
        for (String p : List.of("loss.png", "codebook.png", "recon-step-00000005.png", "recon-step-00000010.png")) {
            Files.write(tmp.resolve("plots").resolve(p), new byte[] {1});
        }
        List<JsonNode> history = new ArrayList<>();
        for (int s = 1; s <= 10; s++) {
            history.add(JSON.readTree(String.format("{\"step\":%d,\"loss\":%f,\"img_per_s\":%d,\"time\":%d,"
                    + "\"step_seconds\":0.5,\"allreduce_seconds\":0.05,\"perplexity\":[100.5,200.25],"
                    + "\"used_fraction\":[0.5,0.75],\"dead_fraction\":0.125}", s, 1.0 / s, 10 + s, 1000 + 2 * s)));
        }
        new RunReport(run, "rqvae", 100).write(history, false);

        String html = Files.readString(tmp.resolve(RunReport.FILE));
        assertThat(html).contains("running: step 10 of 100").contains("0m18s for 9 steps (2.00 s/step)")
                .contains("<td>16.0</td>") // median images/s of 11..20
                .contains("10.0 %") // all-reduce share
                .contains("<td>200.3</td>").contains("<td>75.0 %</td>").contains("dead codes 12.5 %")
                .contains("plots/recon-step-00000010.png").doesNotContain("recon-step-00000005")
                .contains("config hash abc123def4567890").contains("&quot;lr&quot; : 0.001");
    }
}
