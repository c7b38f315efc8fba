package dev.rq.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipeline on HDFS: a NameNode and a DataNode of Spark's Hadoop version started in this JVM
 * (hadoop-client-minicluster), every URI {@code hdfs://127.0.0.1:<port>/…}; the client settings
 * (replication 1 for the one DataNode) travel as {@code --spark-conf spark.hadoop.*}.
 */
class HdfsPipelineTest {

    @TempDir Path tmp;

    @Test
    void ingestTrainTokenizeDecodeOnHdfs() throws Exception {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("dfs").toString());
        conf.set("dfs.replication", "1");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf, tmp.resolve("dfs").toFile()).numDataNodes(1)
                .format(true).checkExitOnShutdown(false).build();
        try {
            dfs.waitActive();
            String base = "hdfs://127.0.0.1:" + dfs.getNameNodePort() + "/rq";
            Map<String, String> client = new LinkedHashMap<>();
            client.put("dfs.replication", "1");
            Pipeline p = new Pipeline(base, client);
            p.prepareInputs(S3PipelineTest.repo());
            assertThat(p.fs()).isInstanceOf(DistributedFileSystem.class);
            p.run();
            // the pipeline left no file open (under construction, its last block not committed)
            assertThat(((DistributedFileSystem) p.fs()).listOpenFiles().hasNext()).as("open files").isFalse();
        } finally {
            dfs.shutdown(true);
        }
    }
}
