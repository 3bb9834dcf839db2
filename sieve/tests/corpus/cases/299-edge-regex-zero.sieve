require ["regex", "variables", "fileinto"];
if header :regex "subject" "on F[a-z]+" { fileinto "${0}"; }
