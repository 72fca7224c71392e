# fish completion for fifo-pingd.
# Generated from the option table in src/daemon/args.rs: do not edit, run scripts/completions.

# No file operands.
complete -c fifo-pingd -f
complete -c fifo-pingd -s c -l config -r -F -d 'configuration file'
complete -c fifo-pingd -s i -l instance -x -d 'run as instance NAME'
complete -c fifo-pingd -l fifo -r -F -d 'FIFO to create and read'
complete -c fifo-pingd -l log -x -a 'stderr syslog journal auto' -d 'stderr, syslog, journal or auto'
complete -c fifo-pingd -s t -l check-config -d 'validate the configuration, print the effective one, exit'
complete -c fifo-pingd -l reload -d 'send SIGHUP to $MAINPID and wait for its report'
complete -c fifo-pingd -s h -l help -d 'print this help'
complete -c fifo-pingd -s V -l version -d 'print the version'
