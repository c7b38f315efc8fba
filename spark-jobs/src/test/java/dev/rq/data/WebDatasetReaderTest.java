package dev.rq.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.image.RejectReason;
import dev.rq.data.ingest.SourceRecord;
import dev.rq.data.ingest.WebDatasetReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;

/**
 * {@link WebDatasetReader} on a shard cut off at every byte position: no exception, every sample
 * whose header was read is accounted for exactly once, complete samples before the cut are kept.
 */
class WebDatasetReaderTest {

    private static final int RECORD = 512;
    private static final String SHARD = "shard-000.tar";

    /** One tar member and where it lies in the archive. */
    private record Member(String key, String name, byte[] data, int header, int dataEnd) {}

    @Test
    void aShardCutAtAnyByteKeepsCompleteSamplesAndAccountsForEveryKey() throws Exception {
        Random rnd = new Random(3);
        List<Member> members = new ArrayList<>();
        int[] imageSizes = {700, 1024, 1, 1500};
        int offset = 0;
        for (int s = 0; s < imageSizes.length; s++) {
            String key = String.format("s%03d", s);
            byte[] jpg = new byte[imageSizes[s]];
            rnd.nextBytes(jpg);
            for (Object[] m : new Object[][] {{"jpg", jpg}, {"cls", Integer.toString(s).getBytes(StandardCharsets.UTF_8)}}) {
                byte[] d = (byte[]) m[1];
                members.add(new Member(key, key + "." + m[0], d, offset, offset + RECORD + d.length));
                offset += RECORD + (d.length + RECORD - 1) / RECORD * RECORD;
            }
        }
        int endRecords = offset;
        byte[] tar = tar(members);
        assertThat(tar.length).isGreaterThanOrEqualTo(endRecords + 2 * RECORD);

        for (int c = 0; c <= tar.length; c++) {
            final int cut = c;
            List<SourceRecord> got = read(Arrays.copyOf(tar, cut));
            String at = "cut at byte " + cut + ": " + got.stream().map(r -> r.sortKey() + "=" + (r.preReject() == null
                    ? "ok" : r.preReject() + " " + r.detail())).toList();

            // the samples whose first header was read whole, and the last of them
            List<String> started = new ArrayList<>();
            for (Member m : members) {
                if (m.header() + RECORD <= cut && !started.contains(m.key())) {
                    started.add(m.key());
                }
            }
            List<String> accepted = got.stream().filter(r -> r.preReject() == null).map(r -> key(r)).toList();
            List<String> rejected = got.stream().filter(r -> r.preReject() != null && !r.sortKey().endsWith("~rest"))
                    .map(r -> key(r)).toList();
            // every sample whose key was read: exactly once, accepted or rejected
            List<String> accounted = new ArrayList<>(accepted);
            accounted.addAll(rejected);
            assertThat(accounted).as(at).containsExactlyInAnyOrderElementsOf(started);
            assertThat(got).as(at).allMatch(r -> r.preReject() == null || r.preReject() == RejectReason.READ_ERROR);

            if (cut >= endRecords + RECORD) { // the end-of-archive record is there: an intact shard
                assertThat(accepted).as(at).containsExactly("s000", "s001", "s002", "s003");
                assertThat(got).as(at).hasSize(4);
                continue;
            }
            assertThat(got).as(at + ": the damage is reported").anyMatch(r -> r.preReject() != null);
            // every sample followed by the header of another one is complete: kept
            Set<String> expected = new HashSet<>(started.isEmpty() ? List.of() : started.subList(0, started.size() - 1));
            // the last one is kept when all its members were read and it is not the shard's first sample
            if (!started.isEmpty()) {
                String last = started.get(started.size() - 1);
                boolean whole = members.stream().filter(m -> m.key().equals(last)).allMatch(m -> m.dataEnd() <= cut)
                        && members.stream().filter(m -> m.key().equals(last)).allMatch(m -> m.header() + RECORD <= cut);
                if (whole && !last.equals("s000")) {
                    expected.add(last);
                }
            }
            assertThat(new TreeSet<>(accepted)).as(at).isEqualTo(new TreeSet<>(expected));
            for (SourceRecord r : got) {
                if (r.preReject() == null) {
                    int label = Integer.parseInt(key(r).substring(1));
                    assertThat(r.label()).as(at).isEqualTo(label);
                    assertThat(r.bytes()).as(at).isEqualTo(members.get(2 * label).data());
                }
            }
        }
    }

    @Test
    void aMemberCutShortRejectsItsSampleNamingTheMemberAndKeepsTheOneBefore() throws Exception {
        List<Member> members = new ArrayList<>();
        for (String k : List.of("a", "b", "c")) {
            members.add(new Member(k, k + ".jpg", new byte[3000], 0, 0));
            members.add(new Member(k, k + ".cls", "1".getBytes(StandardCharsets.UTF_8), 0, 0));
        }
        byte[] tar = tar(members);
        // b.jpg's header is at 4608 (a.jpg: 512 + 3072, a.cls: 512 + 512); cut inside its data
        List<SourceRecord> got = read(Arrays.copyOf(tar, 6000));
        assertThat(got).hasSize(2);
        assertThat(got.get(0).sortKey()).isEqualTo(SHARD + "/a");
        assertThat(got.get(0).preReject()).isNull();
        assertThat(got.get(0).label()).isEqualTo(1);
        assertThat(got.get(1).sortKey()).isEqualTo(SHARD + "/b");
        assertThat(got.get(1).preReject()).isEqualTo(RejectReason.READ_ERROR);
        assertThat(got.get(1).detail()).contains("b.jpg").contains("3000 bytes");
    }

    @Test
    void aMemberOverTheCapIsSkippedUnreadAndRejectsItsSampleOnly() throws Exception {
        List<Member> members = new ArrayList<>();
        members.add(new Member("a", "a.jpg", new byte[3000], 0, 0));
        members.add(new Member("a", "a.cls", "0".getBytes(StandardCharsets.UTF_8), 0, 0));
        members.add(new Member("b", "b.jpg", new byte[5000], 0, 0)); // over the cap, first member of its sample
        members.add(new Member("b", "b.cls", "1".getBytes(StandardCharsets.UTF_8), 0, 0));
        members.add(new Member("c", "c.jpg", new byte[4096], 0, 0)); // at the cap: read
        members.add(new Member("c", "c.json", new byte[4097], 0, 0)); // over the cap, not the image
        byte[] d = new byte[100];
        new Random(1).nextBytes(d);
        members.add(new Member("d", "d.jpg", d, 0, 0));
        members.add(new Member("d", "d.cls", "3".getBytes(StandardCharsets.UTF_8), 0, 0));
        List<SourceRecord> got = new ArrayList<>();
        try (WebDatasetReader r = new WebDatasetReader(new ByteArrayInputStream(tar(members)), SHARD, 4096)) {
            r.forEachRemaining(got::add);
        }
        assertThat(got).extracting(WebDatasetReaderTest::key).containsExactly("a", "b", "c", "d");
        assertThat(got.get(0).preReject()).isNull();
        assertThat(got.get(1).preReject()).isEqualTo(RejectReason.READ_ERROR);
        assertThat(got.get(1).detail()).contains("b.jpg").contains("5000 bytes").contains("4096");
        assertThat(got.get(1).size()).isEqualTo(5001);
        assertThat(got.get(2).preReject()).isEqualTo(RejectReason.READ_ERROR);
        assertThat(got.get(2).detail()).contains("c.json").contains("4097 bytes");
        assertThat(got.get(3).preReject()).isNull();
        assertThat(got.get(3).bytes()).isEqualTo(d);
        assertThat(got.get(3).label()).isEqualTo(3);
        // the default cap reads them all
        assertThat(read(tar(members))).allMatch(r -> r.preReject() == null || r.preReject() == RejectReason.BAD_LABEL);
    }

    /**
     * A 3 GiB member (more than one Java array; generated, never stored) between two samples: the
     * reader streams past it and rejects its sample (before the cap, reading it failed the shard).
     */
    @Test
    void aMemberLargerThanAnArrayIsStreamedPast() throws Exception {
        long big = 3L << 30;
        TarArchiveEntry e = new TarArchiveEntry("big.jpg");
        e.setSize(big);
        byte[] header = new byte[RECORD];
        e.writeEntryHeader(header);
        byte[] before = tar(List.of(new Member("a", "a.jpg", new byte[10], 0, 0)));
        byte[] after = tar(List.of(new Member("z", "z.jpg", new byte[20], 0, 0),
                new Member("z", "z.cls", "7".getBytes(StandardCharsets.UTF_8), 0, 0)));
        // a's members without the end-of-archive records, big.jpg, then z and the end records
        byte[] head = Arrays.copyOf(before, 2 * RECORD);
        InputStream in = new Concat(List.of(new ByteArrayInputStream(head), new ByteArrayInputStream(header),
                new Zeros(big), new ByteArrayInputStream(after)));
        List<SourceRecord> got = new ArrayList<>();
        try (WebDatasetReader r = new WebDatasetReader(in, SHARD)) {
            r.forEachRemaining(got::add);
        }
        assertThat(got).extracting(WebDatasetReaderTest::key).containsExactly("a", "big", "z");
        assertThat(got.get(0).preReject()).isNull();
        assertThat(got.get(1).preReject()).isEqualTo(RejectReason.READ_ERROR);
        assertThat(got.get(1).detail()).contains("big.jpg").contains(big + " bytes")
                .contains(Long.toString(WebDatasetReader.DEFAULT_MAX_MEMBER_BYTES));
        assertThat(got.get(1).size()).isEqualTo(big);
        assertThat(got.get(2).preReject()).isNull();
        assertThat(got.get(2).label()).isEqualTo(7);
    }

    /** {@code n} zero bytes, skipped without reading. */
    private static final class Zeros extends InputStream {
        private long left;

        Zeros(long n) {
            left = n;
        }

        @Override
        public int read() {
            if (left == 0) {
                return -1;
            }
            left--;
            return 0;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left == 0) {
                return -1;
            }
            int n = (int) Math.min(len, left);
            Arrays.fill(b, off, off + n, (byte) 0);
            left -= n;
            return n;
        }

        @Override
        public long skip(long n) {
            long k = Math.max(0, Math.min(n, left));
            left -= k;
            return k;
        }
    }

    /** Streams one after the other; {@code skip} passes through (SequenceInputStream reads to skip). */
    private static final class Concat extends InputStream {
        private final List<InputStream> parts;
        private int i;

        Concat(List<InputStream> parts) {
            this.parts = parts;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (i < parts.size()) {
                int n = parts.get(i).read(b, off, len);
                if (n >= 0) {
                    return n;
                }
                i++;
            }
            return -1;
        }

        @Override
        public long skip(long n) throws IOException {
            long done = 0;
            while (done < n && i < parts.size()) {
                long k = parts.get(i).skip(n - done);
                if (k <= 0) {
                    if (parts.get(i).read() < 0) {
                        i++;
                    } else {
                        done++;
                    }
                    continue;
                }
                done += k;
            }
            return done;
        }
    }

    private static String key(SourceRecord r) {
        return r.sortKey().substring(SHARD.length() + 1);
    }

    private static List<SourceRecord> read(byte[] bytes) throws Exception {
        List<SourceRecord> out = new ArrayList<>();
        try (WebDatasetReader r = new WebDatasetReader(new ByteArrayInputStream(bytes), SHARD)) {
            r.forEachRemaining(out::add);
        }
        return out;
    }

    private static byte[] tar(List<Member> members) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bos)) {
            for (Member m : members) {
                TarArchiveEntry e = new TarArchiveEntry(m.name());
                e.setSize(m.data().length);
                tar.putArchiveEntry(e);
                tar.write(m.data());
                tar.closeArchiveEntry();
            }
        }
        return bos.toByteArray();
    }
}
