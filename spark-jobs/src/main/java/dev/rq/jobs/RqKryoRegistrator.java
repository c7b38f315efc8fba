package dev.rq.jobs;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.JavaSerializer;
import dev.rq.data.ingest.ImageFolderListing;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers the classes this project sends through Spark's serializer. Jobs run with {@code
 * spark.kryo.registrationRequired=true}, so a class that would travel unregistered fails in the
 * tests instead of silently costing bandwidth on a cluster.
 */
public final class RqKryoRegistrator implements KryoRegistrator {

    @Override
    public void registerClasses(Kryo kryo) {
        // the project's records: Kryo's field serializer cannot set their final fields, so they
        // travel with Java serialization (small task descriptions and per-task results only)
        // ImageFolder listing: the units travel with the listing tasks; the files are shuffled to
        // their processing tasks (one per file: a compact serializer, not Java serialization)
        registerJava(kryo, "dev.rq.data.ingest.ImageFolderListing$Unit");
        kryo.register(ImageFolderListing.Entry.class, new EntrySerializer());
        registerJava(kryo, "dev.rq.data.ingest.IngestResult");
        registerJava(kryo, "dev.rq.jobs.ingest.IngestJob$ShardStats");
        registerJava(kryo, "dev.rq.jobs.sample.SampleUnit");
        registerJava(kryo, "dev.rq.tables.TokenManifest$DataFile"); // token-table writer results
        registerJava(kryo, "dev.rq.data.dataset.RowRange");
        kryo.register(dev.rq.data.dataset.RowRange[].class);
        registerJava(kryo, "dev.rq.data.dataset.RowPlan$Task");
        registerJava(kryo, "dev.rq.jobs.eval.CodeItem");
        registerJava(kryo, "dev.rq.tables.TableFiles$DataFile"); // table writer results (semantic IDs)
        registerJava(kryo, "dev.rq.jobs.sid.IdTableTask$Part");
        registerJava(kryo, "dev.rq.jobs.sid.WorkSummary$Part"); // assign-sid encode pass: counts, sums, key sample
        registerJava(kryo, "dev.rq.data.items.ParquetItems$Split"); // the fast item reader's tasks
        kryo.register(dev.rq.data.items.ParquetItems.Split[].class);
        registerJava(kryo, "dev.rq.data.items.ParquetItems$Footers");
        registerJava(kryo, "dev.rq.jobs.decode.DecodeTask$Part"); // rq decode: file names, the first images
        kryo.register(dev.rq.tables.TokenRow.class); // rq decode: numbered rows, shuffled to their tasks
        registerJava(kryo, "dev.rq.data.items.ItemInput$Duplicate"); // duplicate ids named by the check // assign-sid's ID/reverse files and group counts
        // Spark SQL types of the token-table write path that Spark does not register itself
        register(kryo, "org.apache.spark.sql.types.ShortType$");
        register(kryo, "org.apache.spark.sql.types.IntegerType$"); // int32 codes (codebooks > 32767)
        register(kryo, "org.apache.spark.sql.types.ArrayType");
        register(kryo, "org.apache.spark.sql.types.BinaryType$");
        // item tables of the semantic-ID jobs (schemas travel with their write tasks)
        register(kryo, "org.apache.spark.sql.types.FloatType$");
        register(kryo, "org.apache.spark.sql.types.DoubleType$");
        register(kryo, "org.apache.spark.sql.types.LongType$");
        register(kryo, "org.apache.spark.sql.types.ByteType$");
        register(kryo, "org.apache.spark.sql.types.BooleanType$");
        // reading more files than spark.sql.sources.parallelPartitionDiscovery.threshold (32) from a
        // manifest's file list: Spark lists them in a job that ships Hadoop paths and file statuses
        registerJava(kryo, "org.apache.hadoop.fs.Path");
        register(kryo, "[Lorg.apache.hadoop.fs.Path;");
        registerJava(kryo, "org.apache.hadoop.fs.FileStatus");
        register(kryo, "[Lorg.apache.hadoop.fs.FileStatus;");
        registerJava(kryo, "org.apache.hadoop.fs.LocatedFileStatus");
        register(kryo, "[Lorg.apache.hadoop.fs.LocatedFileStatus;");
        registerJava(kryo, "org.apache.hadoop.fs.BlockLocation");
        register(kryo, "[Lorg.apache.hadoop.fs.BlockLocation;");
        register(kryo, "[Lscala.Tuple2;");
        // Dataset.toLocalIterator returns each partition's rows as chunked buffers (rq query; rq eval
        // streams its statistics blocks to the driver in order)
        register(kryo, "[Lorg.apache.spark.util.io.ChunkedByteBuffer;");
        kryo.register(String[].class);
        kryo.register(Object[].class);
        kryo.register(int[].class);
        kryo.register(long[].class);
        kryo.register(byte[].class);
        kryo.register(byte[][].class);
        kryo.register(float[].class);
    }

    /** {@link ImageFolderListing.Entry}: its four fields. */
    private static final class EntrySerializer extends Serializer<ImageFolderListing.Entry> {
        @Override
        public void write(Kryo kryo, Output out, ImageFolderListing.Entry e) {
            out.writeString(e.uri());
            out.writeString(e.relPath());
            out.writeLong(e.label());
            out.writeLong(e.size());
        }

        @Override
        public ImageFolderListing.Entry read(Kryo kryo, Input in, Class<ImageFolderListing.Entry> type) {
            return new ImageFolderListing.Entry(in.readString(), in.readString(), in.readLong(), in.readLong());
        }
    }

    private static void register(Kryo kryo, String name) {
        try {
            kryo.register(Class.forName(name, false, RqKryoRegistrator.class.getClassLoader()));
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("Spark class " + name + " not found (Spark version mismatch?)", e);
        }
    }

    private static void registerJava(Kryo kryo, String name) {
        try {
            kryo.register(Class.forName(name, false, RqKryoRegistrator.class.getClassLoader()), new JavaSerializer());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(name, e);
        }
    }
}
