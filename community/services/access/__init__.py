"""Who may do what: user accounts, passwords, invitations, sign-in links, role scopes
(`scope`) and the limits on sign-ins and public forms."""
