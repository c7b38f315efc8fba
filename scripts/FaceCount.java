import java.awt.image.BufferedImage;
import java.io.File;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A crude, fixed rule that counts "smileys" among emoji-sized images (issue #15 item 2: are the quickstart's smileys
 * recognisable?), so that samples of several models and seeds are counted the same way instead of by one person's
 * impression. Per image (any size; judged on a 64 x 64 grid):
 * <ul>
 *   <li><b>disc</b>: the largest 4-connected region of yellow-orange pixels (hue 25-65 degrees, saturation &gt;= 0.45,
 *       value &gt;= 0.55) covers &gt;= 20 % of the image, its bounding box has an aspect ratio in [0.75, 1.33] and the
 *       region fills &gt;= 55 % of the box (a circle fills 79 %);</li>
 *   <li><b>eyes</b>: inside the disc's box, dark regions (max(R, G, B) &lt; 120, &gt;= 3 pixels, not touching the box's
 *       edge) in the upper 60 % of the box, one left and one right of its centre (a single region spanning both sides,
 *       e.g. sunglasses, counts as both);</li>
 *   <li><b>mouth</b>: a dark or red region (&gt;= 4 pixels) centred in the lower 45 % of the box, within a quarter of the
 *       box's width of its centre line.</li>
 * </ul>
 * A <b>face</b> is a disc with eyes and a mouth. The rule was checked on the emoji training images (docs/quickstart-history.md
 * "Session 14"): how many of the smileys class's yellow faces it finds, and how many images of other classes it calls
 * faces. Usage: {@code java scripts/FaceCount.java DIR_OR_PNG...} prints, per directory (its PNGs) or file, the counts
 * of discs, discs with eyes, and faces; -Dface.list=true prints every image's verdict.
 */
public class FaceCount {
    public static void main(String[] a) throws Exception {
        boolean list = Boolean.getBoolean("face.list");
        for (String arg : a) {
            File f = new File(arg);
            File[] files = f.isDirectory() ? f.listFiles((d, n) -> n.endsWith(".png") && !n.startsWith(".")) : new File[] {f};
            Arrays.sort(files);
            int disc = 0, eyes = 0, face = 0, dotFace = 0, flag = 0, banded = 0;
            for (File x : files) {
                BufferedImage img = ImageIO.read(x);
                if (img == null) {
                    throw new IllegalArgumentException(x + ": not an image ImageIO can read");
                }
                int v = judge(img);
                disc += v >= 1 ? 1 : 0;
                eyes += v >= 2 ? 1 : 0;
                face += v >= 3 ? 1 : 0;
                dotFace += v == 4 ? 1 : 0;
                int fl = flag(img);
                flag += fl >= 1 ? 1 : 0;
                banded += fl == 2 ? 1 : 0;
                if (list) {
                    System.out.printf("  %s %s %s%n", x.getName(), new String[] {"-", "disc", "disc+eyes", "face", "face (two eyes)"}[v],
                            new String[] {"-", "rect", "banded-rect"}[fl]);
                }
            }
            System.out.printf("%-52s images %3d  discs %3d  discs+eyes %3d  faces %3d  rects %3d  banded %3d  two-eye faces %3d%n",
                    arg, files.length, disc, eyes, face, flag, banded, dotFace);
        }
    }

    /**
     * @return 0 no disc, 1 disc, 2 disc with eyes (no mouth), 3 face (disc, eyes, mouth) whose eyes include one dark band
     *     across both sides, 4 face whose eyes are two separate regions (the stricter count: a horizontal bar alone is not
     *     two eyes)
     */
    static int judge(BufferedImage src) {
        int n = 64;
        BufferedImage im = new BufferedImage(n, n, BufferedImage.TYPE_INT_RGB);
        var g = im.createGraphics();
        g.setColor(java.awt.Color.WHITE);
        g.fillRect(0, 0, n, n);
        g.setRenderingHint(java.awt.RenderingHints.KEY_INTERPOLATION, java.awt.RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(src, 0, 0, n, n, null);
        g.dispose();
        boolean[] yellow = new boolean[n * n], dark = new boolean[n * n], red = new boolean[n * n];
        float[] hsv = new float[3];
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                int rgb = im.getRGB(x, y);
                int r = (rgb >> 16) & 255, gg = (rgb >> 8) & 255, b = rgb & 255;
                java.awt.Color.RGBtoHSB(r, gg, b, hsv);
                float hue = hsv[0] * 360;
                yellow[y * n + x] = hue >= 25 && hue <= 65 && hsv[1] >= 0.45f && hsv[2] >= 0.55f;
                dark[y * n + x] = Math.max(r, Math.max(gg, b)) < 120;
                red[y * n + x] = (hue < 15 || hue > 340) && hsv[1] >= 0.5f && hsv[2] >= 0.35f;
            }
        }
        List<int[]> ys = regions(yellow, n);
        if (ys.isEmpty()) {
            return 0;
        }
        int[] d = ys.get(0); // {size, x0, y0, x1, y1, sumx, sumy}
        int bw = d[3] - d[1] + 1, bh = d[4] - d[2] + 1;
        double aspect = (double) bw / bh;
        if (d[0] < 0.20 * n * n || aspect < 0.75 || aspect > 1.33 || d[0] < 0.55 * bw * bh) {
            return 0;
        }
        double cx = (d[1] + d[3]) / 2.0;
        boolean[] inDark = new boolean[n * n], inMouth = new boolean[n * n];
        int darkArea = 0;
        for (int y = d[2]; y <= d[4]; y++) {
            for (int x = d[1]; x <= d[3]; x++) {
                inDark[y * n + x] = dark[y * n + x];
                inMouth[y * n + x] = dark[y * n + x] || red[y * n + x];
                darkArea += dark[y * n + x] ? 1 : 0;
            }
        }
        List<double[]> eyes = new ArrayList<>(); // {centroid x, centroid y, size}
        boolean pair = false, dots = false;
        for (int[] r : regions(inDark, n)) {
            if (r[0] < 3 || r[1] <= d[1] || r[3] >= d[3] || r[2] <= d[2] || r[4] >= d[4]) {
                continue;
            }
            double rx = (double) r[5] / r[0], ry = (double) r[6] / r[0];
            int w = r[3] - r[1] + 1, h = r[4] - r[2] + 1;
            if (ry >= d[2] + 0.60 * bh || h > 0.3 * bh) {
                continue;
            }
            if (r[1] < cx - 0.15 * bw && r[3] > cx + 0.15 * bw) {
                pair = true; // one band across both eyes (sunglasses, a closed-eyes line)
            } else if (w <= 0.3 * bw) {
                eyes.add(new double[] {rx, ry, r[0]});
            }
        }
        for (double[] l : eyes) {
            for (double[] r : eyes) {
                dots |= l[0] < cx - 0.08 * bw && r[0] > cx + 0.08 * bw && Math.abs(l[1] - r[1]) <= 0.1 * bh
                        && Math.abs((cx - l[0]) - (r[0] - cx)) <= 0.12 * bw && Math.max(l[2], r[2]) <= 3 * Math.min(l[2], r[2]);
            }
        }
        pair |= dots;
        boolean mouth = false;
        for (int[] r : regions(inMouth, n)) {
            if (r[0] < 4 || r[1] <= d[1] || r[3] >= d[3] || r[2] <= d[2] || r[4] >= d[4]) {
                continue;
            }
            double rx = (double) r[5] / r[0], ry = (double) r[6] / r[0];
            mouth |= ry >= d[2] + 0.55 * bh && Math.abs(rx - cx) <= 0.2 * bw && r[3] - r[1] + 1 >= 0.12 * bw;
        }
        boolean left = pair && darkArea <= 0.3 * d[0], right = left;
        return !(left && right) ? 1 : !mouth ? 2 : dots ? 4 : 3;
    }

    /**
     * @return 0 no flag shape, 1 a flag-shaped rectangle (the largest non-white region covers &gt;= 25 % of the image, its
     *     box is 1.1-2.4 times as wide as tall and the region fills &gt;= 80 % of it), 2 such a rectangle with at least
     *     two colours (of red, orange-yellow, green, blue, white, black) each covering &gt;= 10 % of the box and none
     *     covering &gt;= 75 % of it (not a plain one-colour rectangle)
     */
    static int flag(BufferedImage src) {
        int n = 64;
        BufferedImage im = new BufferedImage(n, n, BufferedImage.TYPE_INT_RGB);
        var g = im.createGraphics();
        g.setColor(java.awt.Color.WHITE);
        g.fillRect(0, 0, n, n);
        g.drawImage(src, 0, 0, n, n, null);
        g.dispose();
        boolean[] ink = new boolean[n * n];
        int[] colour = new int[n * n];
        float[] hsv = new float[3];
        for (int i = 0; i < n * n; i++) {
            int rgb = im.getRGB(i % n, i / n);
            java.awt.Color.RGBtoHSB((rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255, hsv);
            float hue = hsv[0] * 360;
            boolean white = hsv[1] < 0.2f && hsv[2] >= 0.75f;
            ink[i] = !(hsv[1] < 0.12f && hsv[2] >= 0.9f); // not the near-white background
            colour[i] = hsv[2] < 0.3f ? 5 : white ? 4 : hsv[1] < 0.2f ? 6 : hue < 20 || hue >= 330 ? 0 : hue < 70 ? 1
                    : hue < 170 ? 2 : 3;
        }
        List<int[]> rs = regions(ink, n);
        if (rs.isEmpty()) {
            return 0;
        }
        int[] r = rs.get(0);
        int bw = r[3] - r[1] + 1, bh = r[4] - r[2] + 1;
        double aspect = (double) bw / bh;
        if (r[0] < 0.25 * n * n || aspect < 1.1 || aspect > 2.4 || r[0] < 0.8 * bw * bh) {
            return 0;
        }
        int[] count = new int[7];
        for (int y = r[2]; y <= r[4]; y++) {
            for (int x = r[1]; x <= r[3]; x++) {
                count[colour[y * n + x]]++;
            }
        }
        int colours = 0, top = 0;
        for (int c = 0; c < 6; c++) {
            colours += count[c] >= 0.10 * bw * bh ? 1 : 0;
            top = Math.max(top, count[c]);
        }
        return top >= 0.75 * bw * bh ? 1 : colours >= 2 ? 2 : 1;
    }

    /** @return the 4-connected regions of {@code mask}, largest first, each {size, x0, y0, x1, y1, sumx, sumy} */
    static List<int[]> regions(boolean[] mask, int n) {
        boolean[] seen = new boolean[n * n];
        List<int[]> out = new ArrayList<>();
        ArrayDeque<Integer> q = new ArrayDeque<>();
        for (int i = 0; i < n * n; i++) {
            if (!mask[i] || seen[i]) {
                continue;
            }
            int[] r = {0, n, n, -1, -1, 0, 0};
            seen[i] = true;
            q.add(i);
            while (!q.isEmpty()) {
                int p = q.poll(), x = p % n, y = p / n;
                r[0]++;
                r[1] = Math.min(r[1], x);
                r[2] = Math.min(r[2], y);
                r[3] = Math.max(r[3], x);
                r[4] = Math.max(r[4], y);
                r[5] += x;
                r[6] += y;
                int[] nb = {x > 0 ? p - 1 : -1, x < n - 1 ? p + 1 : -1, y > 0 ? p - n : -1, y < n - 1 ? p + n : -1};
                for (int m : nb) {
                    if (m >= 0 && mask[m] && !seen[m]) {
                        seen[m] = true;
                        q.add(m);
                    }
                }
            }
            out.add(r);
        }
        out.sort((u, v) -> v[0] - u[0]);
        return out;
    }
}
