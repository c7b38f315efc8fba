package dev.rq.jobs.benchloader;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * The JVM's heap over a period, measured after garbage collections (from the collectors'
 * notifications) rather than as the peak of "used" heap, which mostly shows how lazily the
 * collector runs under a large {@code -Xmx}. After a young collection G1 still counts the
 * old-generation garbage it has not collected yet, so {@link #peak} is an upper bound of the live
 * heap; {@link #liveHeap} gives the exact live heap at one moment (a full collection). A final
 * full collection at {@link #close} counts too.
 */
final class HeapWatch implements AutoCloseable {

    private final List<NotificationEmitter> emitters = new ArrayList<>();
    private final NotificationListener listener = this::onGc;
    private volatile long peakAfterGc;
    private volatile int collections;

    HeapWatch() {
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter e) {
                e.addNotificationListener(listener, null, null);
                emitters.add(e);
            }
        }
    }

    private void onGc(Notification n, Object handback) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from(
                (CompositeData) n.getUserData());
        record(info.getGcInfo().getMemoryUsageAfterGc());
    }

    private synchronized void record(Map<String, MemoryUsage> after) {
        long heap = 0;
        for (var pool : ManagementFactory.getMemoryPoolMXBeans()) {
            MemoryUsage u = after.get(pool.getName());
            if (u != null && pool.getType() == MemoryType.HEAP) {
                heap += u.getUsed();
            }
        }
        peakAfterGc = Math.max(peakAfterGc, heap);
        collections++;
    }

    /**
     * @return heap in use now after a full collection, also counted in {@link #peak} (the
     *     collection's own notification may arrive after the peak is read)
     */
    long liveHeap() {
        System.gc();
        long live = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        synchronized (this) {
            peakAfterGc = Math.max(peakAfterGc, live);
        }
        return live;
    }

    /** @return the largest heap occupancy after a collection so far */
    long peak() {
        return peakAfterGc;
    }

    /** @return collections seen */
    int collections() {
        return collections;
    }

    @Override
    public void close() {
        liveHeap();
        for (NotificationEmitter e : emitters) {
            try {
                e.removeNotificationListener(listener);
            } catch (javax.management.ListenerNotFoundException ignored) {
                // already removed
            }
        }
    }
}
