# fish completion for fifo-pingctl.
# Generated from the option table in src/ctl/args.rs: do not edit, run scripts/completions.

# No file operands.
complete -c fifo-pingctl -f
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from ping end status' -a ping -d 'send ping (with --wait: wait for the pong)'
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from ping end status' -a end -d 'send end (the daemon stops unless on_end = ignore)'
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from ping end status' -a status -d 'round trip: print the daemon\'s counters, FIFO, uptime, config'
complete -c fifo-pingctl -s f -l fifo -r -F -d 'the daemon\'s FIFO'
complete -c fifo-pingctl -s c -l config -r -F -d 'the daemon\'s configuration file to read the paths from'
complete -c fifo-pingctl -s i -l instance -x -d 'the instance fifo-pingd@NAME'
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from end' -s r -l reply-dir -x -a '(__fish_complete_directories)' -d 'directory for the reply FIFO'
complete -c fifo-pingctl -s t -l timeout -x -d 'give up after SECS seconds'
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from end status' -s w -l wait -d 'with ping: wait for the daemon\'s pong'
complete -c fifo-pingctl -s q -l quiet -d 'print nothing on success'
complete -c fifo-pingctl -n 'not __fish_seen_subcommand_from ping end' -l json -d 'with status: print one JSON object'
complete -c fifo-pingctl -s h -l help -d 'print this help'
complete -c fifo-pingctl -s V -l version -d 'print the version'
