package dev.rq.jobs;

import com.esotericsoftware.kryo.Kryo;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers the classes this project sends through Spark's serializer. Jobs run with {@code
 * spark.kryo.registrationRequired=true}, so a class that would travel unregistered fails in the
 * tests instead of silently costing bandwidth on a cluster.
 */
public final class RqKryoRegistrator implements KryoRegistrator {

    @Override
    public void registerClasses(Kryo kryo) {
        kryo.register(String[].class);
        kryo.register(Object[].class);
        kryo.register(int[].class);
        kryo.register(long[].class);
        kryo.register(byte[].class);
        kryo.register(byte[][].class);
        kryo.register(float[].class);
    }
}
