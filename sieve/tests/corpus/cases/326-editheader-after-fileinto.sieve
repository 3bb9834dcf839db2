# message: list.eml
# RFC 5293: an edit reaches only the actions taken after it.
require ["fileinto", "editheader"];
fileinto "Before";
addheader "X-Edited" "yes";
fileinto "After";
