# bash completion for fifo-pingd                        -*- shell-script -*-
# Generated from the option table in src/daemon/args.rs: do not edit, run scripts/completions.

_fifo_pingd() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    # --opt=value: COMP_WORDBREAKS splits it into --opt, = and value.
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    case $prev in
        -c | --config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        -i | --instance)
            COMPREPLY=()
            return
            ;;
        --fifo)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        --log)
            mapfile -t COMPREPLY < <(compgen -W 'stderr syslog journal auto' -- "$cur")
            return
            ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W '-c --config -i --instance --fifo --log -t --check-config --reload -h --help -V --version' -- "$cur")
    fi
}
complete -F _fifo_pingd fifo-pingd
