package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The README and docs/*.md against the code: every {@code rq <command> … --option} they show (in code
 * blocks, with backslash continuations, and in inline code) is an option of that command, and every
 * relative link and {@code #anchor} between them resolves (GitHub's heading anchors).
 */
class DocsTest {

    static final Path REPO = repo();

    /** @return the repository root (the directory holding README.md and docs/), as DeployTest finds it */
    static Path repo() {
        String p = System.getProperty("rq.repo.dir");
        Path dir = p != null ? Path.of(p) : Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("docs"))) {
            dir = dir.getParent();
        }
        return dir;
    }

    static List<Path> docs() throws IOException {
        List<Path> files = new ArrayList<>(List.of(REPO.resolve("README.md"), REPO.resolve("deploy/README.md"),
                REPO.resolve("notebooks/README.md")));
        try (Stream<Path> s = Files.list(REPO.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
        }
        return files;
    }

    /** Command name → every option name it accepts (its own, mixins, inherited, hidden ones included). */
    static Map<String, Set<String>> cliOptions() {
        CommandLine cl = RqCli.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
        Map<String, Set<String>> options = new HashMap<>();
        cl.getSubcommands().forEach((name, sub) -> {
            Set<String> names = new LinkedHashSet<>(sub.getCommandSpec().optionsMap().keySet());
            options.put(name, names);
        });
        return options;
    }

    /** Code-block lines (continuations joined) and inline code spans of a Markdown text. */
    static List<String> codeUnits(String markdown) {
        List<String> units = new ArrayList<>();
        Matcher block = Pattern.compile("```[^\\n]*\\n(.*?)```", Pattern.DOTALL).matcher(markdown);
        while (block.find()) {
            units.addAll(List.of(block.group(1).replace("\\\n", " ").split("\n")));
        }
        Matcher span = Pattern.compile("`([^`\\n]+)`").matcher(withoutCodeBlocks(markdown));
        while (span.find()) {
            units.add(span.group(1));
        }
        return units;
    }

    static String withoutCodeBlocks(String markdown) {
        return markdown.replaceAll("(?s)```.*?```", "");
    }

    /** The {@code --options} of every {@code rq <command>} invocation in one code unit, as "command --option". */
    static List<String> invocations(String unit, Set<String> commands) {
        String alternatives = commands.stream().sorted((a, b) -> b.length() - a.length()).map(Pattern::quote)
                .collect(Collectors.joining("|"));
        Pattern rq = Pattern.compile("(?<![\\w.-])(?:bin/)?rq\\s+(?:--\\S+\\s+)*(" + alternatives + ")(?![\\w-])");
        Pattern option = Pattern.compile("(?<![\\w-])--[a-z][a-z0-9-]*");
        List<String> found = new ArrayList<>();
        Matcher m = rq.matcher(unit);
        List<int[]> starts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        while (m.find()) {
            starts.add(new int[] {m.start(), m.end()});
            names.add(m.group(1));
        }
        for (int i = 0; i < names.size(); i++) {
            int end = i + 1 < names.size() ? starts.get(i + 1)[0] : unit.length();
            String rest = unit.substring(starts.get(i)[1], end).split("#|\\||;|&&", 2)[0];
            Matcher o = option.matcher(rest);
            while (o.find()) {
                found.add(names.get(i) + " " + o.group());
            }
        }
        return found;
    }

    @Test
    void everyOptionTheDocsShowExistsOnItsCommand() throws IOException {
        Map<String, Set<String>> cli = cliOptions();
        assertThat(cli).containsKeys("train-vae", "tokenize", "quickstart", "sid-report");
        assertThat(cli.get("train-vae")).contains("--max-steps", "--verbose", "--spark-conf", "--help");
        List<String> checked = new ArrayList<>();
        List<String> unknown = new ArrayList<>();
        for (Path f : docs()) {
            for (String unit : codeUnits(Files.readString(f))) {
                for (String use : invocations(unit, cli.keySet())) {
                    String[] parts = use.split(" ");
                    checked.add(use);
                    if (!cli.get(parts[0]).contains(parts[1])) {
                        unknown.add(REPO.relativize(f) + ": rq " + use + "   in: " + unit.strip());
                    }
                }
            }
        }
        assertThat(checked).as("option uses found in the docs").hasSizeGreaterThan(100);
        assertThat(unknown).as("options the docs show that the command does not have").isEmpty();
    }

    /** Where each command is documented besides the README (its job's page; the README alone when absent). */
    static final Map<String, List<String>> PAGES = Map.ofEntries(
            Map.entry("ingest", List.of("docs/data.md")), Map.entry("bench-loader", List.of("docs/data.md")),
            Map.entry("train-vae", List.of("docs/training.md")), Map.entry("train-transformer", List.of("docs/stage2.md")),
            Map.entry("sample", List.of("docs/sampling.md")), Map.entry("tokenize", List.of("docs/tokens.md")),
            Map.entry("decode", List.of("docs/tokens.md")), Map.entry("query", List.of("docs/tokens.md")),
            Map.entry("eval", List.of("docs/eval.md")), Map.entry("quickstart", List.of("docs/quickstart.md")),
            Map.entry("train-sid", List.of("docs/semantic-ids.md")), Map.entry("assign-sid", List.of("docs/semantic-ids.md")),
            Map.entry("sid-quickstart", List.of("docs/semantic-ids.md")),
            Map.entry("sid-report", List.of("docs/semantic-ids.md")), Map.entry("sid-items", List.of("docs/semantic-ids.md")),
            Map.entry("import-official", List.of()), Map.entry("bench", List.of()), Map.entry("help", List.of()));

    @Test
    void everyOptionOfACommandIsDocumented() throws IOException {
        CommandLine cl = RqCli.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
        assertThat(PAGES.keySet()).as("commands with a documentation page entry").isEqualTo(cl.getSubcommands().keySet());
        String readme = Files.readString(REPO.resolve("README.md"));
        List<String> undocumented = new ArrayList<>();
        for (var e : cl.getSubcommands().entrySet()) {
            StringBuilder text = new StringBuilder(readme);
            for (String page : PAGES.get(e.getKey())) {
                text.append(Files.readString(REPO.resolve(page)));
            }
            for (CommandLine.Model.OptionSpec o : e.getValue().getCommandSpec().options()) {
                if (o.hidden() || o.usageHelp() || o.versionHelp()) {
                    continue;
                }
                if (!Pattern.compile("(?<![\\w-])" + Pattern.quote(o.longestName()) + "(?![\\w-])").matcher(text).find()) {
                    undocumented.add(e.getKey() + " " + o.longestName());
                }
            }
        }
        assertThat(undocumented).as("options in neither the README nor the command's docs page").isEmpty();
    }

    /** {@code rq --help} lists each command by its header, else its description's first line: a whole sentence. */
    @Test
    void everyCommandSummaryIsASentence() {
        CommandLine cl = RqCli.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
        List<String> cut = new ArrayList<>();
        cl.getSubcommands().forEach((name, sub) -> {
            var usage = sub.getCommandSpec().usageMessage();
            String[] lines = usage.header().length > 0 ? usage.header() : usage.description();
            if (lines.length == 0 || !lines[0].strip().endsWith(".")) {
                cut.add(name + ": " + (lines.length == 0 ? "(none)" : lines[0]));
            }
        });
        assertThat(cut).as("command summaries of rq --help that are not a whole sentence").isEmpty();
    }

    @Test
    void theScannerFindsAWrongOption() {
        Set<String> commands = Set.of("train-vae", "tokenize");
        assertThat(invocations("bin/rq --verbose train-vae --conf c.yaml \\ --max-stepz 3 | tee x", commands))
                .containsExactly("train-vae --conf", "train-vae --max-stepz");
        assertThat(invocations("rq tokenize --output t && rq train-vae --data d", commands))
                .containsExactly("tokenize --output", "train-vae --data");
        assertThat(invocations("scripts/bench-vs-anchor.sh --rounds 3", commands)).isEmpty();
        assertThat(codeUnits("a `rq tokenize --x`\n```bash\nbin/rq train-vae \\\n  --y 1\n```\n"))
                .containsExactly("bin/rq train-vae    --y 1", "rq tokenize --x");
    }

    /** Every test class the docs name in inline code ({@code FooTest}, {@code BarIT}) exists in a module's tests. */
    @Test
    void everyTestTheDocsNameExists() throws IOException {
        Set<String> tests = new LinkedHashSet<>();
        for (String module : List.of("rq-model", "spark-jobs")) {
            try (Stream<Path> s = Files.walk(REPO.resolve(module).resolve("src/test/java"))) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".java"))
                        .forEach(n -> tests.add(n.substring(0, n.length() - 5)));
            }
        }
        Pattern testName = Pattern.compile("(?<![\\w.])((?=\\w*[a-z])[A-Z]\\w*(?:Test|IT))(?!\\w)");
        List<String> named = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Path f : docs()) {
            Matcher span = Pattern.compile("`([^`\\n]+)`").matcher(Files.readString(f));
            while (span.find()) {
                Matcher m = testName.matcher(span.group(1));
                while (m.find()) {
                    named.add(m.group(1));
                    if (!tests.contains(m.group(1))) {
                        missing.add(REPO.relativize(f) + ": " + m.group(1));
                    }
                }
            }
        }
        assertThat(named).as("test names in the docs").contains("DeployTest", "Official821MIT").hasSizeGreaterThan(50);
        assertThat(missing).as("tests the docs name that do not exist").isEmpty();
    }

    /** Every {@code spark.rq.*} setting the docs name is read by the code (a string literal in a main source). */
    @Test
    void everySparkRqSettingTheDocsNameExists() throws IOException {
        StringBuilder code = new StringBuilder();
        for (String module : List.of("rq-model", "spark-jobs")) {
            try (Stream<Path> s = Files.walk(REPO.resolve(module).resolve("src/main/java"))) {
                for (Path p : s.filter(p -> p.toString().endsWith(".java")).toList()) {
                    code.append(Files.readString(p));
                }
            }
        }
        Pattern setting = Pattern.compile("spark\\.rq\\.[A-Za-z.]*[A-Za-z]");
        Set<String> named = new LinkedHashSet<>();
        List<String> missing = new ArrayList<>();
        for (Path f : docs()) {
            Matcher m = setting.matcher(Files.readString(f));
            while (m.find()) {
                if (named.add(m.group()) && !code.toString().contains("\"" + m.group() + "\"")) {
                    missing.add(REPO.relativize(f) + ": " + m.group());
                }
            }
        }
        assertThat(named).as("spark.rq settings in the docs").contains("spark.rq.ring.ports");
        assertThat(missing).as("spark.rq settings the docs name that no code reads").isEmpty();
    }

    /** GitHub's anchor of a heading: lower case, punctuation but '-' and '_' dropped, spaces as '-'. */
    static String anchor(String heading) {
        return heading.strip().toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N}_\\- ]", "").replace(' ', '-');
    }

    static Set<String> anchors(Path markdown) throws IOException {
        Set<String> out = new LinkedHashSet<>();
        Map<String, Integer> seen = new HashMap<>();
        Matcher h = Pattern.compile("(?m)^#{1,6}\\s+(.*)$").matcher(withoutCodeBlocks(Files.readString(markdown)));
        while (h.find()) {
            String a = anchor(h.group(1));
            int n = seen.merge(a, 1, Integer::sum) - 1;
            out.add(n == 0 ? a : a + "-" + n);
        }
        return out;
    }

    @Test
    void everyRelativeLinkAndAnchorResolves() throws IOException {
        Pattern link = Pattern.compile("\\]\\(([^)\\s]+)\\)");
        List<String> broken = new ArrayList<>();
        int relative = 0;
        for (Path f : docs()) {
            Matcher m = link.matcher(withoutCodeBlocks(Files.readString(f)));
            while (m.find()) {
                String target = m.group(1);
                if (target.matches("[a-z]+:.*")) {
                    continue; // https:, mailto:
                }
                relative++;
                int hash = target.indexOf('#');
                String path = hash < 0 ? target : target.substring(0, hash);
                Path file = path.isEmpty() ? f : f.getParent().resolve(path).normalize();
                if (!Files.exists(file)) {
                    broken.add(REPO.relativize(f) + ": " + target + " (no such file)");
                } else if (hash >= 0 && file.toString().endsWith(".md")
                        && !anchors(file).contains(target.substring(hash + 1))) {
                    broken.add(REPO.relativize(f) + ": " + target + " (no such heading)");
                }
            }
        }
        assertThat(relative).as("relative links found").isGreaterThan(30);
        assertThat(broken).as("broken links").isEmpty();
    }

    @Test
    void anchorsFollowGitHub() {
        assertThat(anchor("Stage-1 objective: LPIPS and the patch-GAN (`gan`)"))
                .isEqualTo("stage-1-objective-lpips-and-the-patch-gan-gan");
        assertThat(anchor("7. GPUs")).isEqualTo("7-gpus");
        assertThat(anchor("Network ports, firewalls, authentication")).isEqualTo("network-ports-firewalls-authentication");
    }
}
