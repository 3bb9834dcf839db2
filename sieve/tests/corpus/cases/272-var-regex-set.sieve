require ["variables", "regex", "fileinto"];
if header :regex "subject" "^(.*) on (.*)$" { set :upper "a" "${2}"; fileinto "${a}.${1}"; }
