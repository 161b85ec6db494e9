package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// unlimited is --limit-bytes for "no limit": the flag wants a positive number, and no
// container log here comes near 1 TiB.
const unlimited = "1099511627776"

// pairs are the comparisons of issue 13, each plugin command against what a person would
// run with kubectl for the same job.
func pairs(plugin, kubectl string, env *benchEnv, work string) []pair {
	bundle := filepath.Join(work, "bundle.tar.gz")
	dump := filepath.Join(work, "dump")
	dumpJob := job{
		label:   "kubectl cluster-info dump --namespaces <the " + strconv.Itoa(len(env.namespaces)) + "> --output-directory DIR",
		steps:   [][]string{{kubectl, "cluster-info", "dump", "--namespaces", strings.Join(env.namespaces, ","), "--output-directory", dump}},
		outputs: []string{dump},
	}
	return []pair{
		{
			name:     "doctor",
			plugin:   job{label: "kubectl delegate doctor -A", steps: [][]string{{plugin, "doctor", "-A"}}},
			baseline: manualDoctor(kubectl, env.pods),
		},
		{
			name:     "list",
			plugin:   job{label: "kubectl delegate list -A", steps: [][]string{{plugin, "list", "-A"}}},
			baseline: job{label: "kubectl get deploy,statefulset -A -l harness.io/name", steps: [][]string{{kubectl, "get", "deploy,statefulset", "-A", "-l", "harness.io/name"}}},
		},
		{
			name: "collect",
			plugin: job{label: "kubectl delegate collect -A", steps: [][]string{{plugin, "collect", "-A", "-O", bundle}},
				outputs: []string{bundle}},
			baseline: dumpJob,
		},
		{
			name: "collect-unlimited",
			plugin: job{label: "kubectl delegate collect -A --tail=-1 --limit-bytes=1TiB",
				steps:   [][]string{{plugin, "collect", "-A", "-O", bundle, "--tail=-1", "--limit-bytes=" + unlimited}},
				outputs: []string{bundle}},
			baseline: dumpJob,
		},
		{
			name:     "version",
			plugin:   job{label: "kubectl delegate version --client", steps: [][]string{{plugin, "version", "--client"}}},
			baseline: job{label: "kubectl version --client", steps: [][]string{{kubectl, "version", "--client"}}},
		},
	}
}

// manualDoctor is the documented manual diagnosis: the versions, then for every delegate pod
// its description, its log and its log before the last restart.
func manualDoctor(kubectl string, pods []podRef) job {
	steps := [][]string{{kubectl, "version"}}
	for _, p := range pods {
		steps = append(steps,
			[]string{kubectl, "describe", "pod", "-n", p.namespace, p.name},
			[]string{kubectl, "logs", "-n", p.namespace, p.name},
			[]string{kubectl, "logs", "-n", p.namespace, p.name, "--previous"},
		)
	}
	return job{
		label: fmt.Sprintf("manual: kubectl version; per pod describe, logs, logs --previous (%d commands)", len(steps)),
		steps: steps,
	}
}

// machine is what the README must say about where the figures come from.
type machine struct {
	cpus                  int
	memory                string
	loadBefore, loadAfter string
}

func describeMachine() machine {
	m := machine{cpus: runtime.NumCPU(), memory: "unknown", loadBefore: loadAverage()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kib, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", kib/(1<<20))
				}
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load: on a shared machine it says how far the
// figures are from a quiet one.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func printReport(w io.Writer, cfg config, plugin, kubectl string, m machine, results [][2]*result) error {
	size := "unknown"
	if fi, err := os.Stat(plugin); err == nil {
		size = fmt.Sprintf("%.1f MB (%d bytes)", float64(fi.Size())/1e6, fi.Size())
	}
	fmt.Fprintf(w, "\nScale: %d fake nodes, %d other pods, %d delegates x %d replicas, %d MB current + %d MB previous log per delegate pod; medians of %d runs\n",
		cfg.nodes, cfg.pods, cfg.delegates, cfg.replicas, cfg.logMB, cfg.previousLogMB, cfg.runs)
	fmt.Fprintf(w, "Machine: %d CPUs, %s memory; load average %s before, %s after\n", m.cpus, m.memory, m.loadBefore, m.loadAfter)
	fmt.Fprintf(w, "kubectl: %s (%s)\n", kubectlVersion(kubectl), kubectl)
	fmt.Fprintf(w, "Plugin binary: %s, %s\n\n", plugin, size)
	fmt.Fprintln(w, "| command | wall median (min-max) | CPU user+sys | peak RSS | API requests | plugin / baseline |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Fprintln(w, row(r[0], ratio(r[0], r[1])))
		fmt.Fprintln(w, row(r[1], ""))
	}
	printExitCodes(w, results)
	return nil
}

func row(r *result, ratio string) string {
	wall, lo, hi := stats(r.samples, func(s sample) float64 { return s.wall.Seconds() })
	cpu, _, _ := stats(r.samples, func(s sample) float64 { return s.cpu.Seconds() })
	rss, _, _ := stats(r.samples, func(s sample) float64 { return float64(s.rssKiB) / 1024 })
	return fmt.Sprintf("| `%s` | %.2f s (%.2f-%.2f) | %.2f s | %.0f MiB | %d | %s |", r.job.label, wall, lo, hi, cpu, rss, r.requests, ratio)
}

// ratio says plugin/baseline for wall time, CPU and memory, and in words for wall time.
func ratio(plugin, baseline *result) string {
	med := func(r *result, v func(sample) float64) float64 { m, _, _ := stats(r.samples, v); return m }
	wall := func(s sample) float64 { return s.wall.Seconds() }
	cpu := func(s sample) float64 { return s.cpu.Seconds() }
	rss := func(s sample) float64 { return float64(s.rssKiB) }
	w := med(plugin, wall) / med(baseline, wall)
	words := fmt.Sprintf("%.1fx faster", 1/w)
	if w > 1 {
		words = fmt.Sprintf("%.1fx slower", w)
	}
	return fmt.Sprintf("wall %.2f (%s), CPU %.2f, RSS %.2f", w, words, med(plugin, cpu)/med(baseline, cpu), med(plugin, rss)/med(baseline, rss))
}

// printExitCodes names the commands that exited non-zero: doctor's 3 means it found a
// failing check, which is its job; anything else deserves a look before trusting the times.
func printExitCodes(w io.Writer, results [][2]*result) {
	for _, pr := range results {
		for _, r := range pr {
			counts := map[int]int{}
			for _, s := range r.samples {
				for _, c := range s.exitCodes {
					if c != 0 {
						counts[c]++
					}
				}
			}
			for code, n := range counts {
				fmt.Fprintf(w, "\nnote: `%s`: %d command(s) exited %d over %d runs", r.job.label, n, code, len(r.samples))
			}
		}
	}
	fmt.Fprintln(w)
}

func kubectlVersion(kubectl string) string {
	out, err := exec.Command(kubectl, "version", "--client").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
