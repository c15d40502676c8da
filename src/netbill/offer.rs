//! Steps 1–2: the customer asks for a price, the merchant answers with a signed offer.
//!
//! The price may depend on who asks (the paper's student ACM member): the catalog maps
//! discount groups to customers' key ids and products to per-group prices, and the offer
//! names the customer it was made for, so it cannot be passed to someone else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::goods::GoodsCommitment;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Hex, Members, Signed};
use crate::error::{Error, Result};
use crate::money::Amount;

/// The body of a `netbill.offer`: a merchant's signed price for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// Random identifier of this offer (the paper's TID).
    pub offer_id: Hex<16>,
    /// The merchant's key id (the signer).
    pub merchant: KeyId,
    /// The customer this offer is for.
    pub customer: KeyId,
    /// Product identifier from the catalog.
    pub product: String,
    /// Human-readable description for the customer's statement.
    pub description: String,
    /// The price.
    pub price: Amount,
    /// The discount group whose price applied, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_group: Option<String>,
    /// The size and Merkle root of the plaintext goods, promised for static goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods: Option<GoodsCommitment>,
    /// When the offer was made.
    pub issued_at: Time,
    /// After this the offer may not be accepted.
    pub expires_at: Time,
}

impl Body for Offer {
    const TYPE: &'static str = "netbill.offer";

    /// Written member by member (one offer per request).
    fn assembled(&self) -> Option<Vec<u8>> {
        let mut m = Members::new(512)
            .string("customer", &self.customer)
            .string("description", &self.description)
            .string("expires_at", &self.expires_at);
        if let Some(goods) = &self.goods {
            m = m.object("goods", |g| g.string("root", &goods.root).integer("size", goods.size));
        }
        m.string("issued_at", &self.issued_at)
            .string("merchant", &self.merchant)
            .string("offer_id", &self.offer_id)
            .string("price", &self.price)
            .optional("price_group", self.price_group.as_ref())
            .string("product", &self.product)
            .end()
    }
}

/// A merchant's catalog file (plain JSON, written by people: amounts may be `"0.10"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// How long offers stay valid, e.g. `"15m"` (default 15 minutes).
    #[serde(default)]
    pub offer_validity: Option<String>,
    /// Discount groups: group name → key ids of its members.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<KeyId>>,
    /// The products.
    pub products: Vec<Product>,
}

/// One catalog entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Product identifier.
    pub id: String,
    /// Description shown to customers.
    pub description: String,
    /// Price for everyone not in a discount group.
    pub price: Amount,
    /// Prices for discount groups (the lowest applicable one wins).
    #[serde(default)]
    pub group_prices: BTreeMap<String, Amount>,
    /// For static goods: the goods file (relative to the catalog), whose digest the offer promises.
    #[serde(default)]
    pub goods: Option<PathBuf>,
}

impl Catalog {
    /// Parses a catalog, checking that every group price names a known group.
    pub fn parse(bytes: &[u8]) -> Result<Catalog> {
        let catalog: Catalog =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed(format!("invalid catalog: {e}")))?;
        for p in &catalog.products {
            if let Some(g) = p.group_prices.keys().find(|g| !catalog.groups.contains_key(*g)) {
                return Err(Error::malformed(format!("product {}: price for unknown group {g:?}", p.id)));
            }
        }
        Ok(catalog)
    }

    /// The product with id `id`.
    pub fn product(&self, id: &str) -> Result<&Product> {
        self.products
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Error::new(crate::ErrorKind::NoInput, format!("no product {id:?} in the catalog")))
    }

    /// The price `customer` pays for `product`, and the group that gave it.
    pub fn price_for(&self, product: &Product, customer: KeyId) -> (Amount, Option<String>) {
        product
            .group_prices
            .iter()
            .filter(|(g, _)| self.groups.get(*g).is_some_and(|members| members.contains(&customer)))
            .map(|(g, p)| (*p, Some(g.clone())))
            .chain(std::iter::once((product.price, None)))
            .min_by_key(|(p, _)| *p)
            .expect("the list price is always there")
    }
}

/// What the merchant needs to answer one price request.
pub struct OfferRequest<'a> {
    /// The merchant's catalog.
    pub catalog: &'a Catalog,
    /// Directory the catalog's goods paths are relative to.
    pub catalog_dir: &'a Path,
    /// The requested product id.
    pub product: &'a str,
    /// The customer asking.
    pub customer: &'a Identity,
    /// The time of the offer.
    pub now: Time,
}

/// Makes the merchant-signed offer for a price request.
pub fn make_offer(req: &OfferRequest<'_>, merchant: &PartyKeys) -> Result<Signed<Offer>> {
    let product = req.catalog.product(req.product)?;
    let (price, price_group) = req.catalog.price_for(product, req.customer.key_id);
    let goods = match &product.goods {
        Some(path) => {
            let path = req.catalog_dir.join(path);
            let file = std::fs::File::open(&path).map_err(|e| Error::io(&e).at(path.display()))?;
            let size = file.metadata().map_err(|e| Error::io(&e).at(path.display()))?.len();
            Some(crate::crypto::goods::commit(std::io::BufReader::new(file), size).map_err(|e| e.at(path.display()))?)
        }
        None => None,
    };
    let validity = crate::clock::parse_duration(req.catalog.offer_validity.as_deref().unwrap_or("15m"))?;
    let body = Offer {
        offer_id: Hex(crate::crypto::random()),
        merchant: merchant.key_id(),
        customer: req.customer.key_id,
        product: product.id.clone(),
        description: product.description.clone(),
        price,
        price_group,
        goods,
        issued_at: req.now,
        expires_at: req.now.plus(validity)?,
    };
    Ok(Signed::sign(body, merchant))
}
