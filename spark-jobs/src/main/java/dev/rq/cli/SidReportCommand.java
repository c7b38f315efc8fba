package dev.rq.cli;

import dev.rq.jobs.sid.SidReport;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq sid-report}: semantic-ID tables side by side (HTML + JSON), without Spark. */
@Command(name = "sid-report", mixinStandardHelpOptions = true,
        header = "Compare semantic-ID tables side by side (HTML + JSON).",
        description = {"Compare semantic-ID tables (rq assign-sid outputs) side by side: codebook usage and",
            "perplexity per level, unique-SID ratio, collision rate, largest collision group, reconstruction",
            "MSE and cosine, prefix purity. Writes <out>/report.html and <out>/report.json."})
public final class SidReportCommand implements Callable<Integer> {

    @Option(names = "--table", required = true,
            description = "name=URI of an ID table (repeatable, in column order), e.g. rqvae=runs/ids-rqvae")
    List<String> tables;

    @Option(names = "--out", required = true, description = "Report folder URI")
    String out;

    @Option(names = "--title", defaultValue = "Semantic IDs", description = "Report title (default ${DEFAULT-VALUE})")
    String title;

    @Override
    public Integer call() throws Exception {
        Map<String, String> named = new LinkedHashMap<>();
        for (String t : tables) {
            int eq = t.indexOf('=');
            if (eq <= 0 || eq == t.length() - 1) {
                throw new IllegalArgumentException("--table must look like name=URI, got " + t);
            }
            named.put(t.substring(0, eq), t.substring(eq + 1));
        }
        Configuration conf = new Configuration();
        var entries = SidReport.entries(named, conf);
        SidReport.write(new Path(out), conf, title, "ID tables: " + String.join(", ", named.values()), Map.of(),
                entries, Map.of());
        System.out.printf("report: %s%n", new Path(out, SidReport.HTML));
        return 0;
    }
}
