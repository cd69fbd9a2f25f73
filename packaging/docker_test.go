package packaging

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerStage is one FROM ... section of the Dockerfile, its
// instructions with continuation lines joined.
type dockerStage struct {
	From         string
	Instructions []string
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	cur := ""
	add := func(ins string) {
		ins = strings.TrimSpace(ins)
		if ins == "" {
			return
		}
		if strings.HasPrefix(ins, "FROM ") {
			stages = append(stages, dockerStage{From: strings.TrimPrefix(ins, "FROM ")})
			return
		}
		if len(stages) == 0 {
			if strings.HasPrefix(ins, "ARG ") {
				return
			}
			t.Fatalf("Dockerfile: %q before the first FROM", ins)
		}
		s := &stages[len(stages)-1]
		s.Instructions = append(s.Instructions, ins)
	}
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		add(cur + trimmed)
		cur = ""
	}
	add(cur)
	return stages
}

// ownBuild matches build commands that belong in the Makefile.
var ownBuild = regexp.MustCompile(`\bgo (build|install)\b|\bclang\s+-|\bdpkg-deb\b|\bCGO_ENABLED=|build-deb\.sh`)

// TestDockerfileBuildsThroughMakefile: Docker is not installed on the
// project's machines, so the image is checked here by reading the
// Dockerfile: the build stage builds only through the Makefile's targets
// (which make build and make deb use too), and the image installs the
// Debian package that stage made and runs the data plane as the unit
// does. The e2e test runs the build stage's command.
func TestDockerfileBuildsThroughMakefile(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) != 2 || !strings.HasSuffix(stages[0].From, " AS build") {
		t.Fatalf("want a build stage and an image stage, got %d stages", len(stages))
	}
	makeRun := ""
	for _, s := range stages {
		for _, ins := range s.Instructions {
			if m := ownBuild.FindString(ins); m != "" {
				t.Errorf("Dockerfile builds by itself (%q) instead of through the Makefile: %s", m, ins)
			}
			if strings.HasPrefix(ins, "RUN make ") {
				makeRun = ins
			}
		}
	}
	if makeRun == "" || !slices.Contains(stages[0].Instructions, makeRun) || !regexp.MustCompile(`^RUN make binaries deb-package `).MatchString(makeRun) {
		t.Fatalf("the build stage does not run make binaries deb-package (found %q)", makeRun)
	}
	img := stages[1].Instructions
	var copied, installed bool
	for _, ins := range img {
		if regexp.MustCompile(`^COPY --from=build /out/dsrlb\.deb `).MatchString(ins) {
			copied = true
		}
		if strings.HasPrefix(ins, "RUN apt-get update") && strings.Contains(ins, "apt-get install -y --no-install-recommends /tmp/dsrlb.deb") {
			installed = true
		}
	}
	if !copied || !installed {
		t.Errorf("the image does not install the build stage's package (copied %v, installed %v)", copied, installed)
	}
	if !slices.Contains(img, `ENTRYPOINT ["`+dataplaneBin+`"]`) || !slices.Contains(img, `CMD ["-c", "`+configPath+`"]`) {
		t.Errorf("the image does not run %s -c %s: %q", dataplaneBin, configPath, img)
	}

	// The targets exist and build what the package needs; -n prints the
	// commands without running them.
	out, err := exec.Command("make", "-C", "..", "-n", "--no-print-directory", "binaries", "deb-package",
		"BIN=/nonexistent/out", "DEB_OUT=/nonexistent/out", "DEB_VERSION=1.0").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n binaries deb-package: %v\n%s", err, out)
	}
	for _, want := range []string{
		"go build -o /nonexistent/out/ ./cmd/dsrlb-dataplane",
		"CGO_ENABLED=0 go build -o /nonexistent/out/ ./cmd/dsrlb-ctrl ./cmd/dsrlbctl",
		"-o /nonexistent/out/dsrlb-decap.o",
		"packaging/build-deb.sh -bin /nonexistent/out -out /nonexistent/out -compress xz -version 1.0",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make -n binaries deb-package does not run %q:\n%s", want, out)
		}
	}
}
