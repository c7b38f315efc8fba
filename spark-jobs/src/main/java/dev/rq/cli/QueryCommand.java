package dev.rq.cli;

import dev.rq.io.HadoopDir;
import dev.rq.jobs.query.QueryJob;
import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq query}: Spark SQL over token tables, dataset splits, metrics and Parquet → CSV / JSON lines. */
@Command(name = "query", mixinStandardHelpOptions = true,
        header = "Spark SQL over token tables, datasets, metrics -> CSV / JSON lines.",
        description = {"Run Spark SQL over token tables, dataset splits, JSON lines (a run's metrics/ parts) or Parquet and",
            "print the rows as CSV (arrays as JSON text, binary as base64) or JSON lines. Several",
            "--sql (each with its own --output) share one Spark session.",
            "Example: rq query --table t=runs/quickstart/tokens --sql \"SELECT split, count(*) AS n FROM t GROUP BY"
                    + " split\""})
public final class QueryCommand implements Callable<Integer> {

    @Option(names = "--table", required = true, paramLabel = "NAME=URI",
            description = "A table registered as view NAME (repeatable)")
    List<String> tables = new ArrayList<>();

    @ArgGroup(exclusive = false, multiplicity = "1..*")
    List<Query> queries = new ArrayList<>();

    @Option(names = "--format", defaultValue = "csv", description = "csv or json (default ${DEFAULT-VALUE})")
    String format;

    @Option(names = "--limit", defaultValue = "0", description = "At most this many rows per query (0 = all)")
    long limit;

    @Option(names = "--workers", defaultValue = "1", description = "Local Spark workers (default ${DEFAULT-VALUE})")
    int workers;

    /** One statement and where its rows go. */
    static final class Query {
        @Option(names = "--sql", required = true, description = "An SQL statement over the tables (repeatable)")
        String sql;

        @Option(names = "--output", description = "File URI for the rows of the preceding --sql (default: stdout)")
        String output;
    }

    @Override
    public Integer call() throws Exception {
        QueryJob.Format f = QueryJob.format(format);
        List<QueryJob.Table> ts = tables.stream().map(QueryJob.Table::parse).toList();
        if (limit < 0) {
            throw new IllegalArgumentException("--limit must be >= 0, got " + limit);
        }
        try (SparkSession spark = IngestCommand.session("rq query", workers)) {
            QueryJob.register(spark, ts);
            for (Query q : queries) {
                if (q.output == null) {
                    Writer w = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
                    QueryJob.run(spark, q.sql, f, limit, w);
                    w.flush();
                } else {
                    Path p = new Path(q.output);
                    FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
                    Path at = HadoopDir.writePath(fs, p); // the file appears complete under its name, or not at all
                    long n;
                    try (Writer w = new BufferedWriter(new OutputStreamWriter(fs.create(at, true),
                            StandardCharsets.UTF_8))) {
                        n = QueryJob.run(spark, q.sql, f, limit, w);
                    } catch (Exception e) {
                        fs.delete(at, false); // a failed query leaves no partial file (on an object store no file)
                        throw e;
                    }
                    HadoopDir.publish(fs, at, p);
                    System.err.printf("rq query: %d rows -> %s%n", n, fs.makeQualified(p));
                }
            }
        }
        return 0;
    }
}
