"""Review and test without a phone: paths, who answers, diffs, scenario tests and their
coverage, diagrams, and the generated documentation and schemas."""
