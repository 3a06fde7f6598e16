# bash completion for paas: source it, or put it in
# /usr/share/bash-completion/completions/paas (`paas server install` does).
_paas() {
    local IFS=$'\013'
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words
    IFS=$' \t\n' read -r -a words <<< "$line"
    if [[ -z $line || $line =~ [[:space:]]$ ]]; then
        words+=("")
    fi
    local index=$(( ${#words[@]} - 1 ))
    local cur=${words[index]}
    compopt +o nospace 2> /dev/null
    COMPREPLY=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$index" \
        _CLAP_COMPLETE_COMP_TYPE="${COMP_TYPE:-9}" \
        _CLAP_COMPLETE_SPACE=false \
        COMPLETE="bash" \
        paas -- "${words[@]}" 2> /dev/null \
    ) )
    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    # bash also breaks words at `=`: `--app=x`, `web=1`.
    if [[ $cur == *[:=]* ]]; then
        local prefix=${cur%"${cur##*[:=]}"}
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}
        done
    fi
    if [[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} =~ [=/:]$ ]]; then
        compopt -o nospace 2> /dev/null
    fi
}
complete -o nospace -o bashdefault -F _paas paas
