package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse and the line locator: they must
// never panic, and Parse must return either a Config or positioned errors,
// one per line, each naming the file.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "example.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimal))
	f.Add([]byte(locatorDoc))
	f.Add([]byte(svc("[[service.backend]]", `address = "192.0.2.20"`, "weight = 70000", `"x\ty" = """a`, `b"""`)))
	f.Add([]byte("a = [[[[{b = '''\n'''}]]]]\n[[x.y]]\n[x . 'y' . \"z\\u0041\"]\n"))
	f.Add([]byte("\xEF\xBB\xBF[dataplane]\r\nworkers = [1,\r\n 2]\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml:") {
					t.Fatalf("error line without file position: %q", line)
				}
			}
		}
		loc := newLocator(data)
		for _, p := range []string{"dataplane.workers[0]", "service[0].backend[1].weight", `a."b c"[2]`, ""} {
			if ln := loc.line(parsePath(p)); ln < 1 || ln > strings.Count(string(data), "\n")+1 {
				t.Fatalf("line(%q) = %d out of range", p, ln)
			}
		}
		_ = parsePath(string(data)).String()
	})
}
