# bash completion for fifo-pingctl                        -*- shell-script -*-
# Generated from the option table in src/ctl/args.rs: do not edit, run scripts/completions.

_fifo_pingctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    # --opt=value: COMP_WORDBREAKS splits it into --opt, = and value.
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    case $prev in
        -f | --fifo)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        -c | --config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        -i | --instance)
            COMPREPLY=()
            return
            ;;
        -r | --reply-dir)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return
            ;;
        -t | --timeout)
            COMPREPLY=()
            return
            ;;
    esac
    # The command given so far (options may come before or after it).
    local i word command= operands=
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ -n $operands ]]; then
            command=$word
            continue
        fi
        case $word in
            --) operands=1 ;;
            -f | --fifo | -c | --config | -i | --instance | -r | --reply-dir | -t | --timeout)
                [[ ${COMP_WORDS[i+1]} == = ]] && ((i++))
                ((i++))
                ;;
            -*) ;;
            *) command=$word ;;
        esac
    done
    if [[ -z $operands && $cur == -* ]]; then
        case $command in
            ping) mapfile -t COMPREPLY < <(compgen -W '-f --fifo -c --config -i --instance -r --reply-dir -t --timeout -w --wait -q --quiet -h --help -V --version' -- "$cur") ;;
            end) mapfile -t COMPREPLY < <(compgen -W '-f --fifo -c --config -i --instance -t --timeout -q --quiet -h --help -V --version' -- "$cur") ;;
            status) mapfile -t COMPREPLY < <(compgen -W '-f --fifo -c --config -i --instance -r --reply-dir -t --timeout -q --quiet --json -h --help -V --version' -- "$cur") ;;
            *) mapfile -t COMPREPLY < <(compgen -W '-f --fifo -c --config -i --instance -r --reply-dir -t --timeout -w --wait -q --quiet --json -h --help -V --version' -- "$cur") ;;
        esac
    elif [[ -z $command ]]; then
        mapfile -t COMPREPLY < <(compgen -W 'ping end status' -- "$cur")
    fi
}
complete -F _fifo_pingctl fifo-pingctl
