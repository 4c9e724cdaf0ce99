// compose-check loads a Compose file the way `docker compose config` does
// (compose-spec/compose-go: schema validation, interpolation, merging, the
// model's own checks) without a Docker engine or CLI, and prints the
// services it defines. Exit 1 with the loader's error when the file is not
// valid.
//
//	compose-check [-f docker-compose.yml]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "docker-compose.yml", "the Compose file")
	flag.Parse()
	opts, err := cli.NewProjectOptions([]string{*file}, cli.WithOsEnv, cli.WithName("codex32"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		os.Exit(2)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %s is not a valid Compose file: %v\n", *file, err)
		os.Exit(1)
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Printf("services: %s\n", strings.Join(names, " "))
}
